#include "app/commands.h"

#include "http/server/access.h"

#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <stdexcept>

namespace pixelmill {

int runToken(const std::string& name, const std::string& scopes, const std::string& file) {
    unsigned bits = http::parseScopes(scopes);  // invalid_argument: exit 2 with the message
    std::string token = http::newToken();
    std::string line = http::tokenLine(name, bits, token);
    if (!file.empty()) {
        for (const auto& existing : std::filesystem::exists(file) ? http::loadTokenFile(file) : std::vector<http::TokenEntry>{})
            if (existing.name == name) throw std::invalid_argument("the name '" + name + "' is already in " + file);
        bool fresh = !std::filesystem::exists(file);
        std::ofstream out(file, std::ios::app);
        if (!out) throw std::runtime_error("cannot write " + file);
        if (fresh) out << "# pixelmill API tokens: NAME SCOPES sha256:HEX (the token itself is never stored)\n";
        out << line << "\n";
        out.close();
        if (!out) throw std::runtime_error("cannot write " + file);
        ::chmod(file.c_str(), 0600);
        std::cerr << "added '" << name << "' (" << http::scopeNames(bits) << ") to " << file
                  << "; the daemon reads it at start\n";
    } else {
        std::cerr << "line for the token file:\n" << line << "\n";
    }
    std::cerr << "token (shown once; send it as Authorization: Bearer <token>):\n";
    std::cout << token << "\n";
    return 0;
}

}  // namespace pixelmill
