#pragma once

#include <string_view>
#include <vector>

namespace pixelmill {

// A file compiled into the binary (see cmake/PixelmillEmbed.cmake).
struct EmbeddedFile {
    std::string_view path;
    std::string_view contents;
};

// SQL migrations, in file-name order: store/sqlite/migrations/NNN_*.sql.
const std::vector<EmbeddedFile>& sqliteMigrations();

}  // namespace pixelmill
