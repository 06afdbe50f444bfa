#pragma once

// libcurl plumbing shared by the fetcher and the notifier (not a public
// interface of notify/): RAII handles and the pin that keeps a connection on
// the addresses the AddressPolicy checked.

#include "notify/address_policy.h"

#include <curl/curl.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace pixelmill::notify::detail {

// curl_global_init, once per process (thread-safe).
void ensureCurl();

// How much of an answer that is not wanted (a webhook's reply, a failed
// download's error page) is read before the connection is dropped instead.
constexpr uint64_t kDiscardLimit = 64 * 1024;

struct EasyFree {
    void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
using Easy = std::unique_ptr<CURL, EasyFree>;
// A fresh easy handle with the settings every request shares: no signals, no
// proxy (an environment proxy would bypass the pin), no protocol but `protocols`.
Easy newEasy(const char* protocols, std::chrono::milliseconds connectTimeout);

struct UrlFree {
    void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
using Url = std::unique_ptr<CURLU, UrlFree>;

struct CurlStringFree {
    void operator()(char* s) const { curl_free(s); }
};
using CurlString = std::unique_ptr<char, CurlStringFree>;

// A curl_slist owned for as long as a transfer uses it.
class SList {
public:
    SList() = default;
    ~SList() { curl_slist_free_all(list_); }
    SList(const SList&) = delete;
    SList& operator=(const SList&) = delete;
    void add(const std::string& line);
    curl_slist* get() const { return list_; }

private:
    curl_slist* list_ = nullptr;
};

// Makes a handle connect to the target's checked addresses only: the host
// name is pre-resolved to them (CURLOPT_RESOLVE, so curl never asks DNS) and
// every socket curl opens is compared with them first (CURLOPT_OPENSOCKETFUNCTION),
// which also covers IP-literal hosts. Must outlive the transfer.
class Pin {
public:
    Pin(CURL* curl, const Target& target);
    Pin(const Pin&) = delete;
    Pin& operator=(const Pin&) = delete;

    // The address curl tried that was not checked, if any (the transfer then
    // fails with CURLE_COULDNT_CONNECT).
    const std::string& refusedAddress() const { return refused_; }

private:
    static curl_socket_t openSocket(void* self, curlsocktype purpose, curl_sockaddr* address);

    SList resolve_;
    std::vector<std::string> allowed_;
    std::string refused_;
};

// Numeric form of a socket address (inet_ntop), or "" for other families.
std::string numericAddress(const sockaddr* address);

}  // namespace pixelmill::notify::detail
