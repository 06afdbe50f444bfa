// grayscale: the example out-of-tree plugin. One class, one macro.
#include <pixelmill/plugin.hpp>

#include <vips/vips8>

#include <chrono>
#include <thread>

#ifndef GRAYSCALE_VERSION
#define GRAYSCALE_VERSION "1.0.0"
#endif

namespace {

using pixelmill::sdk::Error;
using pixelmill::sdk::Job;

class Grayscale {
public:
    static constexpr const char* kName = "grayscale";
    static constexpr const char* kVersion = GRAYSCALE_VERSION;
    static constexpr const char* kDescription = "Converts an image to a greyscale PNG of the same size";
    static constexpr const char* kAccepts[] = {"image/jpeg", "image/png", "image/webp", nullptr};
    // The host validates parameters against this schema and fills in defaults.
    static constexpr const char* kSchema = R"json({
      "type": "object",
      "properties": {
        "delay_ms": {"type": "integer", "minimum": 0, "maximum": 60000, "default": 0,
                     "description": "wait this long first (for demonstrations)"}
      },
      "additionalProperties": false
    })json";

    void process(Job& job) const {
        // Honour cancel and timeouts while waiting.
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(job.integer("delay_ms"));
        while (std::chrono::steady_clock::now() < until) {
            job.throwIfStopped();
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        vips::VImage out;
        void* data = nullptr;
        size_t size = 0;
        try {
            vips::VImage in = vips::VImage::new_from_file(job.input().path()).autorot();
            out = in.colourspace(VIPS_INTERPRETATION_B_W);
            if (out.has_alpha()) out = out.flatten();
            out.write_to_buffer(".png", &data, &size);
        } catch (const vips::VError& e) {
            throw Error(PM_UNPROCESSABLE, e.what());  // exceptions never cross into the host
        }
        job.addOutput(0, "gray.png", "image/png", {static_cast<const unsigned char*>(data), size}, out.width(),
                      out.height());
        g_free(data);
    }
};

}  // namespace

PIXELMILL_PLUGIN(Grayscale)
