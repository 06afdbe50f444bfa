#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace pixelmill {

// The one error type inside the daemon: an API error code (API.md), a message
// for people, the offending field if any, and the HTTP status it maps to.
// http/ turns it into the JSON error body; everything else just throws it.
class ApiError : public std::runtime_error {
public:
    ApiError(int status, std::string code, const std::string& message, std::string field = {})
        : std::runtime_error(message), status_(status), code_(std::move(code)), field_(std::move(field)) {}

    int status() const noexcept { return status_; }
    const std::string& code() const noexcept { return code_; }
    const std::string& field() const noexcept { return field_; }
    std::optional<int> retryAfterSeconds() const noexcept { return retryAfter_; }
    // The jobs a 409 conflict is about (the error body lists them as `jobs`).
    const std::vector<std::string>& jobs() const noexcept { return jobs_; }

    ApiError& naming(std::vector<std::string> jobs) {
        jobs_ = std::move(jobs);
        return *this;
    }

    ApiError& retryAfter(int seconds) {
        retryAfter_ = seconds;
        return *this;
    }

    static ApiError badRequest(std::string code, const std::string& message, std::string field = {}) {
        return {400, std::move(code), message, std::move(field)};
    }
    static ApiError invalidParam(const std::string& field, const std::string& message) {
        return {400, "invalid_param", message, field};
    }
    static ApiError notFound(const std::string& message, std::string code = "not_found") {
        return {404, std::move(code), message};
    }
    static ApiError conflict(std::string code, const std::string& message) {
        return {409, std::move(code), message};
    }
    static ApiError tooLarge(const std::string& message) { return {413, "too_large", message, "file"}; }
    static ApiError unsupportedMediaType(const std::string& message) {
        return {415, "unsupported_media_type", message, "file"};
    }
    static ApiError unprocessable(const std::string& message) { return {422, "unprocessable", message}; }
    static ApiError unavailable(std::string code, const std::string& message, int retryAfterSeconds) {
        ApiError e{503, std::move(code), message};
        e.retryAfter(retryAfterSeconds);
        return e;
    }
    static ApiError insufficientStorage(const std::string& message) {
        return {507, "insufficient_storage", message};
    }
    static ApiError internal(const std::string& message) { return {500, "internal", message}; }

private:
    int status_;
    std::string code_;
    std::string field_;
    std::optional<int> retryAfter_;
    std::vector<std::string> jobs_;
};

}  // namespace pixelmill
