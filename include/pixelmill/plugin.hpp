// Header-only C++ helper on top of plugin.h: a plugin is one class and one
// macro. Exceptions stay on the plugin's side of the boundary: the thunks
// below catch everything and turn it into a pm_status and a message.
//
//   class Sepia {
//   public:
//       static constexpr const char* kName = "sepia";
//       static constexpr const char* kVersion = "1.0.0";
//       static constexpr const char* kDescription = "Sepia tone";
//       static constexpr const char* kAccepts[] = {"image/jpeg", nullptr};
//       static constexpr const char* kSchema = R"({"type":"object","properties":{}})";
//       // or, for a schema that depends on what this build can do, decided
//       // once when the library is loaded: static const char* schema();
//       void process(pixelmill::sdk::Job& job) const;          // required
//       pixelmill::sdk::Probe probe(const pixelmill::sdk::Input&) const; // optional
//   };
//   PIXELMILL_PLUGIN(Sepia)
#pragma once

#include <pixelmill/plugin.h>

#include <atomic>
#include <charconv>
#include <concepts>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace pixelmill::sdk {

// Thrown inside a plugin to fail the job with a given status.
class Error : public std::runtime_error {
public:
    Error(pm_status status, const std::string& message)
        : std::runtime_error(message), status_(status) {}
    pm_status status() const noexcept { return status_; }

private:
    pm_status status_;
};

struct Probe {
    int32_t width = -1;
    int32_t height = -1;
    int32_t pages = -1;
};

class Input {
public:
    explicit Input(const pm_input* input) : input_(input) {}
    const char* path() const { return input_->path; }
    std::span<const unsigned char> bytes() const { return {input_->data, input_->size}; }
    std::string_view mediaType() const { return input_->media_type ? input_->media_type : ""; }

private:
    const pm_input* input_;
};

// One job as a plugin sees it. Thread-safe where the host's callbacks are:
// addOutput, progress, shouldStop and log may be called from parallelFor tasks.
class Job {
public:
    Job(const pm_context* ctx, const pm_input* input, const pm_param* params, size_t count)
        : ctx_(ctx), input_(input), params_(params), count_(count) {}

    const Input& input() const { return input_; }
    uint64_t maxPixels() const { return ctx_->max_pixels; }
    uint32_t maxPages() const { return ctx_->max_pages; }

    bool has(std::string_view key) const { return find(key) != nullptr; }

    std::string str(std::string_view key, std::string_view fallback = {}) const {
        const char* v = find(key);
        return std::string(v ? std::string_view(v) : fallback);
    }

    long long integer(std::string_view key, long long fallback = 0) const {
        const char* v = find(key);
        if (!v) return fallback;
        long long out = 0;
        auto [end, ec] = std::from_chars(v, v + std::strlen(v), out);
        if (ec != std::errc()) throw Error(PM_INVALID_PARAM, std::string(key) + " is not an integer");
        return out;
    }

    double number(std::string_view key, double fallback = 0) const {
        const char* v = find(key);
        if (!v) return fallback;
        try {
            return std::stod(v);
        } catch (const std::exception&) {
            throw Error(PM_INVALID_PARAM, std::string(key) + " is not a number");
        }
    }

    bool flag(std::string_view key, bool fallback = false) const {
        const char* v = find(key);
        if (!v) return fallback;
        return std::string_view(v) == "true";
    }

    // Copies `data` into the host as output `index`. Throws on refusal.
    void addOutput(uint32_t index, const std::string& name, const std::string& mediaType,
                   std::span<const unsigned char> data, int32_t width = -1, int32_t height = -1) const {
        if (ctx_->add_output(ctx_->host, index, name.c_str(), mediaType.c_str(), data.data(),
                             data.size(), width, height) != 0)
            throw Error(PM_TRANSIENT, "the host could not store output " + name);
    }

    void progress(uint32_t done, uint32_t total) const { ctx_->progress(ctx_->host, done, total); }
    bool shouldStop() const { return ctx_->should_stop(ctx_->host) != 0; }
    void throwIfStopped() const {
        if (shouldStop()) throw Error(PM_CANCELED, "stopped: canceled or out of time");
    }
    void log(int level, const std::string& message) const { ctx_->log(ctx_->host, level, message.c_str()); }

    // Runs fn(i) for i in [0, count) on the host's spare threads. The first
    // exception a task throws is rethrown here once every task has returned.
    template <class Fn>
    void parallelFor(uint32_t count, Fn&& fn) const {
        struct Shared {
            Fn* fn;
            std::mutex mutex;
            std::exception_ptr error;
        } shared{&fn, {}, nullptr};
        auto trampoline = [](void* user, uint32_t index) {
            auto* s = static_cast<Shared*>(user);
            try {
                (*s->fn)(index);
            } catch (...) {
                std::lock_guard lock(s->mutex);
                if (!s->error) s->error = std::current_exception();
            }
        };
        if (ctx_->parallel_for(ctx_->host, count, trampoline, &shared) != 0)
            for (uint32_t i = 0; i < count; ++i) trampoline(&shared, i);
        if (shared.error) std::rethrow_exception(shared.error);
    }

private:
    const char* find(std::string_view key) const {
        for (size_t i = 0; i < count_; ++i)
            if (key == params_[i].key) return params_[i].value;
        return nullptr;
    }

    const pm_context* ctx_;
    Input input_;
    const pm_param* params_;
    size_t count_;
};

namespace detail {

inline void writeMessage(char* out, size_t size, const char* text) {
    if (!out || size == 0) return;
    std::strncpy(out, text, size - 1);
    out[size - 1] = '\0';
}

template <class Fn>
pm_status guarded(char* message, size_t size, Fn&& fn) noexcept {
    try {
        fn();
        return PM_OK;
    } catch (const Error& e) {
        writeMessage(message, size, e.what());
        return e.status();
    } catch (const std::bad_alloc&) {
        writeMessage(message, size, "out of memory");
        return PM_TRANSIENT;
    } catch (const std::exception& e) {
        writeMessage(message, size, e.what());
        return PM_INTERNAL;
    } catch (...) {
        writeMessage(message, size, "unknown exception");
        return PM_INTERNAL;
    }
}

template <class P>
const P& instance() {
    static const P plugin;
    return plugin;
}

template <class P>
pm_status process(const pm_context* ctx, const pm_input* input, const pm_param* params,
                  size_t count, char* message, size_t size) noexcept {
    return guarded(message, size, [&] {
        Job job(ctx, input, params, count);
        instance<P>().process(job);
    });
}

template <class P>
concept HasProbe = requires(const P& p, const Input& in) {
    { p.probe(in) } -> std::same_as<Probe>;
};

template <class P>
pm_status probe(const pm_context*, const pm_input* input, pm_probe_result* result,
                char* message, size_t size) noexcept {
    return guarded(message, size, [&] {
        Probe p = instance<P>().probe(Input(input));
        result->width = p.width;
        result->height = p.height;
        result->pages = p.pages;
    });
}

template <class P>
constexpr pm_plugin describe() {
    pm_plugin d{};
    d.abi_version = PIXELMILL_PLUGIN_ABI_VERSION;
    d.name = P::kName;
    d.version = P::kVersion;
    d.description = P::kDescription;
    d.accepts = P::kAccepts;
    // A schema() makes the table dynamically initialized: it runs while the
    // library is loaded, before the host reads the table.
    if constexpr (requires { { P::schema() } -> std::convertible_to<const char*>; })
        d.params_schema = P::schema();
    else
        d.params_schema = P::kSchema;
    d.process = &process<P>;
    if constexpr (HasProbe<P>) d.probe = &probe<P>;
    return d;
}

}  // namespace detail
}  // namespace pixelmill::sdk

// Exports the one symbol the host looks for, with default visibility; build
// plugins with -fvisibility=hidden so that nothing else is exported.
#define PIXELMILL_PLUGIN(Class)                                                   \
    extern "C" __attribute__((visibility("default"))) const pm_plugin             \
        pixelmill_plugin_v1 = ::pixelmill::sdk::detail::describe<Class>();
