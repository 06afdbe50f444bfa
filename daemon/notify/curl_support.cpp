#include "notify/curl_support.h"

#include "common/error.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <mutex>

namespace pixelmill::notify::detail {

void ensureCurl() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_ALL); });
}

Easy newEasy(const char* protocols, std::chrono::milliseconds connectTimeout) {
    ensureCurl();
    Easy curl(curl_easy_init());
    if (!curl) throw ApiError::internal("curl_easy_init failed");
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols);
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connectTimeout.count()));
    curl_easy_setopt(c, CURLOPT_USERAGENT, "pixelmill/" PIXELMILL_VERSION);
    return curl;
}

void SList::add(const std::string& line) {
    curl_slist* next = curl_slist_append(list_, line.c_str());
    if (!next) throw ApiError::internal("curl_slist_append failed");
    list_ = next;
}

std::string numericAddress(const sockaddr* address) {
    char text[INET6_ADDRSTRLEN] = {};
    if (address->sa_family == AF_INET) {
        auto* in = reinterpret_cast<const sockaddr_in*>(address);
        if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof text)) return text;
    } else if (address->sa_family == AF_INET6) {
        auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
        if (inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text)) return text;
    }
    return {};
}

Pin::Pin(CURL* curl, const Target& target) : allowed_(target.addresses) {
    std::string addresses;
    for (const auto& a : target.addresses) {
        if (!addresses.empty()) addresses += ',';
        addresses += a.find(':') != std::string::npos ? "[" + a + "]" : a;
    }
    // An IP-literal host needs no entry (curl does not resolve it); the socket
    // check below holds either way.
    bool literal = std::find(target.addresses.begin(), target.addresses.end(), target.host) != target.addresses.end();
    if (!literal) {
        resolve_.add(target.host + ":" + std::to_string(target.port) + ":" + addresses);
        curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve_.get());
    }
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, &Pin::openSocket);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, this);
}

curl_socket_t Pin::openSocket(void* self, curlsocktype, curl_sockaddr* address) {
    auto* pin = static_cast<Pin*>(self);
    std::string numeric = numericAddress(&address->addr);
    if (numeric.empty() || std::find(pin->allowed_.begin(), pin->allowed_.end(), numeric) == pin->allowed_.end()) {
        pin->refused_ = numeric.empty() ? "a non-IP address" : numeric;
        return CURL_SOCKET_BAD;
    }
    return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

}  // namespace pixelmill::notify::detail
