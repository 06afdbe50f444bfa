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
// The same for PostgreSQL: store/postgres/migrations/NNN_*.sql.
const std::vector<EmbeddedFile>& postgresMigrations();

// The API documentation, http/docs/openapi/: openapi.json and the /docs page's docs.css.
const std::vector<EmbeddedFile>& apiDocsFiles();

// The dashboard's templates, stylesheet and script: web/dashboard/*.
const std::vector<EmbeddedFile>& dashboardFiles();

}  // namespace pixelmill
