/*
 * pixelmill plugin ABI, version 1.
 *
 * Plain C, nothing but the C standard library. A plugin is a shared library
 * that exports exactly one symbol, `pixelmill_plugin_v1`, a const pm_plugin.
 * The host reads `abi_version` before anything else and refuses the library
 * when it is not PIXELMILL_PLUGIN_ABI_VERSION.
 *
 * No C++ types, exceptions or allocations cross this boundary: strings are
 * NUL-terminated UTF-8, buffers are pointer + length, errors are pm_status.
 * Every pointer says who owns it (OWNERSHIP:) and how long it stays valid.
 */
#ifndef PIXELMILL_PLUGIN_H
#define PIXELMILL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PIXELMILL_PLUGIN_ABI_VERSION 1u
#define PIXELMILL_PLUGIN_SYMBOL "pixelmill_plugin_v1"

typedef enum pm_status {
    PM_OK = 0,
    PM_INVALID_PARAM = 1,  /* a parameter is valid by the schema but not for this input */
    PM_UNPROCESSABLE = 2,  /* the input cannot be decoded, or exceeds a limit */
    PM_UNSUPPORTED = 3,    /* the input's media type is not one this plugin handles */
    PM_CANCELED = 4,       /* stopped because should_stop() returned nonzero */
    PM_TRANSIENT = 5,      /* may succeed if tried again (I/O, memory, host storage) */
    PM_INTERNAL = 6        /* anything else; the message says what */
} pm_status;

/* Opaque to plugins: the host's state for one job. */
typedef struct pm_host pm_host;

/* The source of a job. OWNERSHIP: host; valid until process() returns. */
typedef struct pm_input {
    const char* path;          /* the source as a readable file */
    const unsigned char* data; /* the same bytes, mapped read-only */
    size_t size;
    const char* media_type;    /* sniffed from the bytes by the host */
} pm_input;

/* One parameter, already validated against the plugin's schema, with
 * defaults filled in. Values are text: integers in decimal, numbers in
 * shortest round-trip form, booleans "true"/"false".
 * OWNERSHIP: host; valid until process() returns. */
typedef struct pm_param {
    const char* key;
    const char* value;
} pm_param;

/* What the host offers a running job. OWNERSHIP: host; valid until
 * process() returns. Every callback is safe to call from any thread that
 * the plugin runs inside process(), including parallel_for's tasks. */
typedef struct pm_context {
    uint32_t struct_size;  /* sizeof(pm_context) as the host was built */
    pm_host* host;         /* pass back to every callback */

    uint64_t max_pixels;   /* refuse sources with more pixels (width x height) */
    uint32_t max_pages;    /* refuse to render more pages than this */

    /* Adds output number `index` (0-based; the order clients see). The host
     * copies `data` before returning. Returns 0 on success, nonzero when the
     * host could not keep it: the plugin should then return PM_TRANSIENT. */
    int (*add_output)(pm_host* host, uint32_t index, const char* name,
                      const char* media_type, const void* data, size_t size,
                      int32_t width, int32_t height);

    /* Reports progress; `total` may change once, when it becomes known. */
    void (*progress)(pm_host* host, uint32_t done, uint32_t total);

    /* Nonzero once the job was canceled or ran past its time: the plugin
     * should stop soon and return PM_CANCELED. */
    int (*should_stop)(pm_host* host);

    /* One line for the daemon's log, tagged with the job id. level: 0 debug,
     * 1 info, 2 warning, 3 error. */
    void (*log)(pm_host* host, int level, const char* message);

    /* Runs fn(user, i) for every i in [0, count), on as many threads as the
     * host can spare (the calling thread included), and returns when all have
     * returned. fn must not throw or longjmp. Returns 0, or nonzero if the
     * host could not run them (then none has run). */
    int (*parallel_for)(pm_host* host, uint32_t count,
                        void (*fn)(void* user, uint32_t index), void* user);
} pm_context;

/* What a plugin knows about a source from its header alone. */
typedef struct pm_probe_result {
    int32_t width;   /* as displayed (after EXIF orientation); -1 unknown */
    int32_t height;  /* -1 unknown */
    int32_t pages;   /* -1 unknown */
} pm_probe_result;

typedef struct pm_plugin {
    uint32_t abi_version;  /* PIXELMILL_PLUGIN_ABI_VERSION; read before all else */
    const char* name;      /* [a-z0-9_-]+, unique among loaded plugins */
    const char* version;   /* semantic version; part of the dedup key */
    const char* description;
    const char* const* accepts; /* NULL-terminated list of media types */
    const char* params_schema;  /* JSON Schema of a flat object */

    /* Turns one source into outputs. On failure writes a message of at most
     * message_size bytes (NUL included) into `message`. Thread-safe: the host
     * may run several at once. */
    pm_status (*process)(const pm_context* ctx, const pm_input* input,
                         const pm_param* params, size_t param_count,
                         char* message, size_t message_size);

    /* Optional (may be NULL): reads the source's header without decoding
     * pixels. Same message convention as process(). */
    pm_status (*probe)(const pm_context* ctx, const pm_input* input,
                       pm_probe_result* result, char* message,
                       size_t message_size);
} pm_plugin;

#ifdef __cplusplus
}
#endif

#endif /* PIXELMILL_PLUGIN_H */
