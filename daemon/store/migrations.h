#pragma once

// What both stores' migrations share: which numbered files (NNN_name.sql)
// are still to apply, in order.
#include "common/embedded.h"

#include <string>
#include <string_view>
#include <vector>

namespace pixelmill {

struct Migration {
    int version = 0;        // NNN
    std::string name;       // the file name, for the log
    std::string_view sql;   // the file's contents
};

// The files numbered above `current`, lowest first.
std::vector<Migration> pendingMigrations(const std::vector<EmbeddedFile>& files, int current);

}  // namespace pixelmill
