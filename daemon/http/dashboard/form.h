#pragma once

#include "http/server/body.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pixelmill::http::dashboard {

// The fields of the form a POST carries: application/x-www-form-urlencoded
// (repeated names kept, in order) or multipart/form-data (its text fields;
// file parts stay in the body).
class Form {
public:
    // From the body of the request being answered; 415 for any other kind of body.
    static Form of(const RequestBody& body);
    static Form fromUrlEncoded(std::string_view text);

    // The first value of `name`, or "".
    std::string get(const std::string& name) const;
    std::vector<std::string> all(const std::string& name) const;
    const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

private:
    std::vector<std::pair<std::string, std::string>> fields_;
};

// Percent-decoding, with '+' as a space (form encoding).
std::string formDecode(std::string_view text);

}  // namespace pixelmill::http::dashboard
