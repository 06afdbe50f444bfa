#pragma once

#include <sys/types.h>

#include <filesystem>

namespace pixelmill::test {

// tests/support/smtp_sink.py (Debian's python3-aiosmtpd) on a free loopback
// port, writing each message to <folder>/<n>.eml. Its stdin is a pipe from
// this process, so the sink ends with the test even if the test dies.
class SmtpSink {
public:
    // True when /usr/bin/python3 can import aiosmtpd.
    static bool available();

    explicit SmtpSink(const std::filesystem::path& folder);  // throws if it does not start
    ~SmtpSink();
    SmtpSink(const SmtpSink&) = delete;
    SmtpSink& operator=(const SmtpSink&) = delete;

    int port() const { return port_; }
    std::filesystem::path message(int n) const { return folder_ / (std::to_string(n) + ".eml"); }
    std::filesystem::path envelope(int n) const { return folder_ / (std::to_string(n) + ".env"); }

private:
    std::filesystem::path folder_;
    pid_t pid_ = -1;
    int stdin_ = -1;
    int port_ = 0;
};

}  // namespace pixelmill::test
