// readImageHeader against the real plugin probe (the thumbnail plugin's .so,
// libvips underneath) on files libvips writes here: where the reader answers,
// the answer is the probe's, for whole files and for cut or damaged ones.
#include "jobs/image_header.h"

#include "common/error.h"
#include "common/mapped_file.h"
#include "jobs/sniff.h"
#include "plugins/plugin_host.h"
#include "store/fs/fs_blob_store.h"
#include "support/daemon.h"
#include "support/images.h"
#include "worker/process_executor.h"

#include <catch2/catch.hpp>
#include <vips/vips8>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace pixelmill {
namespace {

using vips::VImage;

struct Sample {
    std::string name;
    std::string bytes;
    bool plain = true;  // a common file: the reader must answer it
};

std::string mediaType(const std::string& bytes) {
    return sniffMediaType({reinterpret_cast<const unsigned char*>(bytes.data()), std::min<size_t>(bytes.size(), 4096)});
}

std::optional<SourceInfo> read(const std::string& bytes) {
    return readImageHeader(mediaType(bytes), {reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()});
}

VImage pattern(int width, int height, int bands = 3) {
    test::initVips();
    VImage xy = VImage::xyz(width, height);
    VImage v = (xy.extract_band(0) * 3 + xy.extract_band(1) * 5).cast(VIPS_FORMAT_UCHAR);
    std::vector<VImage> planes;
    for (int b = 0; b < bands; ++b) planes.push_back(b == 3 ? v.linear(1.0, 100.0).cast(VIPS_FORMAT_UCHAR) : v + b * 40);
    VImage out = VImage::bandjoin(planes).cast(VIPS_FORMAT_UCHAR);
    return out.copy(VImage::option()->set("interpretation", bands >= 3 ? VIPS_INTERPRETATION_sRGB
                                                                       : VIPS_INTERPRETATION_B_W));
}

std::string save(const VImage& image, const char* suffix, vips::VOption* options = nullptr) {
    void* data = nullptr;
    size_t size = 0;
    image.write_to_buffer(suffix, &data, &size, options);
    std::string out(static_cast<const char*>(data), size);
    g_free(data);
    return out;
}

VImage withOrientation(VImage image, int orientation) {
    image = image.copy();
    image.set(VIPS_META_ORIENTATION, orientation);
    // An EXIF block to carry it: PNG and WebP savers write EXIF only from one.
    const std::string jpeg = save(image, ".jpg");
    return VImage::new_from_buffer(jpeg, "").copy_memory();  // the loader reads the buffer lazily
}

// `image` stacked `pages` times with page-height set: an animation.
VImage animation(const VImage& frame, int pages) {
    std::vector<VImage> frames;
    for (int i = 0; i < pages; ++i) frames.push_back((frame + i * 60).cast(VIPS_FORMAT_UCHAR));
    VImage all = VImage::arrayjoin(frames, VImage::option()->set("across", 1)).copy();
    all.set(VIPS_META_PAGE_HEIGHT, frame.height());
    return all;
}

std::string segment(unsigned char marker, const std::string& payload) {
    std::string s = {'\xff', static_cast<char>(marker), static_cast<char>((payload.size() + 2) >> 8),
                     static_cast<char>((payload.size() + 2) & 0xff)};
    return s + payload;
}

// A JPEG with `segments` put right after SOI (before JFIF and SOF).
std::string withSegments(const std::string& jpeg, const std::string& segments) {
    return jpeg.substr(0, 2) + segments + jpeg.substr(2);
}

// An APP1 EXIF block: IFD0 with one Orientation entry, then `padding` bytes.
std::string exifSegment(int orientation, size_t padding, bool bigEndian = false) {
    auto u16 = [&](unsigned v) {
        return bigEndian ? std::string{char(v >> 8), char(v & 0xff)} : std::string{char(v & 0xff), char(v >> 8)};
    };
    auto u32 = [&](unsigned v) { return bigEndian ? u16(v >> 16) + u16(v & 0xffff) : u16(v & 0xffff) + u16(v >> 16); };
    std::string tiff = std::string(bigEndian ? "MM" : "II") + u16(42) + u32(8);
    tiff += u16(1) + u16(0x0112) + u16(3) + u32(1) + u16(unsigned(orientation)) + u16(0) + u32(0);
    tiff += std::string(padding, '\0');
    return segment(0xE1, std::string("Exif\0\0", 6) + tiff);
}

std::vector<Sample> samples() {
    std::vector<Sample> s;
    // JPEG
    for (auto [w, h] : std::vector<std::pair<int, int>>{{1, 1}, {7, 3}, {333, 17}, {65500, 1}, {1, 65500}})
        s.push_back({"jpeg " + std::to_string(w) + "x" + std::to_string(h), save(pattern(w, h), ".jpg")});
    s.push_back({"jpeg grey", save(pattern(31, 9, 1), ".jpg")});
    s.push_back({"jpeg progressive", save(pattern(123, 45), ".jpg", VImage::option()->set("interlace", true))});
    s.push_back({"jpeg no subsampling", save(pattern(9, 11), ".jpg", VImage::option()->set("subsample_mode", VIPS_FOREIGN_SUBSAMPLE_OFF))});
    s.push_back({"jpeg cmyk", save(pattern(21, 13, 4).copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_CMYK)), ".jpg")});
    for (int o : {2, 3, 5, 6, 7, 8})
        s.push_back({"jpeg orientation " + std::to_string(o), save(withOrientation(pattern(40, 10), o), ".jpg")});
    const std::string small = save(pattern(50, 20), ".jpg", VImage::option()->set("strip", true));
    s.push_back({"jpeg big EXIF before SOF", withSegments(small, exifSegment(6, 60000))});
    s.push_back({"jpeg big-endian EXIF", withSegments(small, exifSegment(8, 10, true))});
    {
        std::string icc;
        for (int i = 1; i <= 3; ++i)
            icc += segment(0xE2, std::string("ICC_PROFILE\0", 12) + char(i) + char(3) + std::string(60000, char(i)));
        s.push_back({"jpeg 180 KB of ICC before SOF", withSegments(small, icc)});
    }
    s.push_back({"jpeg COM and APP15", withSegments(small, segment(0xFE, "hello") + segment(0xEF, "x"))});
    s.push_back({"jpeg fill bytes", withSegments(small, "\xff\xff\xff" + segment(0xFE, "fill before"))});
    // PNG
    for (auto [w, h] : std::vector<std::pair<int, int>>{{1, 1}, {17, 5}, {65535, 1}, {1, 70000}})
        s.push_back({"png " + std::to_string(w) + "x" + std::to_string(h), save(pattern(w, h), ".png")});
    s.push_back({"png interlaced", save(pattern(37, 29), ".png", VImage::option()->set("interlace", true))});
    s.push_back({"png palette", save(pattern(37, 29), ".png", VImage::option()->set("palette", true))});
    s.push_back({"png grey", save(pattern(8, 3, 1), ".png")});
    s.push_back({"png alpha", save(pattern(8, 3, 4), ".png")});
    s.push_back({"png 16-bit", save((pattern(5, 6) * 256).cast(VIPS_FORMAT_USHORT).copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_RGB16)), ".png")});
    s.push_back({"png 1-bit", save(pattern(13, 7, 1) > 128, ".png", VImage::option()->set("bitdepth", 1))});
    for (int o : {3, 6})
        s.push_back({"png orientation " + std::to_string(o), save(withOrientation(pattern(40, 10), o), ".png")});
    // GIF
    for (auto [w, h] : std::vector<std::pair<int, int>>{{1, 1}, {5, 9}, {300, 200}, {2048, 2}})
        s.push_back({"gif " + std::to_string(w) + "x" + std::to_string(h), save(pattern(w, h), ".gif")});
    s.push_back({"gif 640x480 (libnsgif's screen-size quirk)", save(pattern(640, 480), ".gif"), false});
    s.push_back({"gif 2049x2 (over libnsgif's screen limit)", save(pattern(2049, 2), ".gif"), false});
    s.push_back({"gif animated", save(animation(pattern(20, 10), 3), ".gif"), false});
    // WebP
    for (auto [w, h] : std::vector<std::pair<int, int>>{{1, 1}, {17, 5}, {16383, 2}})
        s.push_back({"webp lossy " + std::to_string(w) + "x" + std::to_string(h), save(pattern(w, h), ".webp")});
    for (auto [w, h] : std::vector<std::pair<int, int>>{{1, 1}, {31, 7}, {2, 16383}})
        s.push_back({"webp lossless " + std::to_string(w) + "x" + std::to_string(h),
                     save(pattern(w, h), ".webp", VImage::option()->set("lossless", true))});
    s.push_back({"webp lossy alpha (VP8X)", save(pattern(33, 21, 4), ".webp")});
    s.push_back({"webp lossless alpha", save(pattern(33, 21, 4), ".webp", VImage::option()->set("lossless", true))});
    for (int o : {1, 6})
        s.push_back({"webp orientation " + std::to_string(o) + " (VP8X + EXIF)", save(withOrientation(pattern(40, 10), o), ".webp")});
    s.push_back({"webp animated", save(animation(pattern(20, 10), 3), ".webp"), false});
    return s;
}

// The plugin probe, in this process, through the real thumbnail plugin.
class Probe {
public:
    Probe() : host_(test::pluginBuildDir(), PluginLimits{}) {
        host_.scan();
        plugin_ = host_.find("thumbnail");
        REQUIRE(plugin_);
        REQUIRE(plugin_->canProbe);
    }
    // The probe's answer, or nullopt when it refuses the file.
    std::optional<SourceInfo> operator()(const std::string& bytes) {
        std::string path = (dir_ / "source").string();
        test::writeFile(path, bytes);
        try {
            return host_.probe(*plugin_, path, mediaType(bytes));
        } catch (const ApiError&) {
            return std::nullopt;
        }
    }

private:
    test::TempDir dir_;
    PluginHost host_;
    std::shared_ptr<const PluginDescriptor> plugin_;
};

std::string show(const std::optional<SourceInfo>& i) {
    if (!i) return "refused";
    auto n = [](const std::optional<int>& v) { return v ? std::to_string(*v) : std::string("-"); };
    return n(i->width) + "x" + n(i->height) + " pages " + n(i->pages);
}

bool same(const SourceInfo& a, const SourceInfo& b) {
    return a.width == b.width && a.height == b.height && a.pages == b.pages;
}

// Where the reader answers `bytes`, the probe must give the same answer.
void checkAgrees(Probe& probe, const std::string& what, const std::string& bytes) {
    std::optional<SourceInfo> ours = read(bytes);
    if (!ours) return;
    std::optional<SourceInfo> theirs = probe(bytes);
    INFO(what << ": reader " << show(ours) << ", probe " << show(theirs));
    REQUIRE(theirs);
    REQUIRE(same(*ours, *theirs));
}

}  // namespace


TEST_CASE("image header: common files read as the plugin probe reads them", "[jobs][image_header]") {
    PIXELMILL_SKIP_WITHOUT_TSAN_LIBVIPS();
    Probe probe;
    for (const Sample& s : samples()) {
        std::optional<SourceInfo> ours = read(s.bytes);
        std::optional<SourceInfo> theirs = probe(s.bytes);
        INFO(s.name << " (" << s.bytes.size() << " bytes): reader " << show(ours) << ", probe " << show(theirs));
        REQUIRE(theirs);
        if (s.plain) REQUIRE(ours);
        if (ours) CHECK(same(*ours, *theirs));
    }
}

TEST_CASE("image header: a JPEG's or PNG's first bytes answer as the whole file does", "[jobs][image_header]") {
    PIXELMILL_SKIP_WITHOUT_TSAN_LIBVIPS();
    for (const Sample& s : samples()) {
        const std::string type = mediaType(s.bytes);
        if (!imageHeaderInPrefix(type)) continue;
        for (size_t n : {size_t(64), size_t(4096), size_t(70000)}) {
            std::optional<SourceInfo> prefix = read(s.bytes.substr(0, n));
            INFO(s.name << " first " << n << " bytes: " << show(prefix) << ", whole: " << show(read(s.bytes)));
            if (prefix) CHECK(same(*prefix, *read(s.bytes)));
        }
    }
    CHECK(!imageHeaderInPrefix("image/gif"));
    CHECK(!imageHeaderInPrefix("image/webp"));
}

TEST_CASE("image header: animations and unusual layouts are left to the probe", "[jobs][image_header]") {
    PIXELMILL_SKIP_WITHOUT_TSAN_LIBVIPS();
    Probe probe;
    for (const Sample& s : samples()) {
        if (s.name.find("animated") != std::string::npos) CHECK(!read(s.bytes));
    }
    const std::string jpeg = save(pattern(10, 10), ".jpg");
    std::string sof3 = jpeg;
    sof3[sof3.find("\xff\xc0")+ 1] = '\xc3';  // lossless: the probe decides
    CHECK(!read(sof3));
    CHECK(!read(withSegments(jpeg, exifSegment(9, 0))));                         // orientation out of range
    CHECK(!read(withSegments(jpeg, exifSegment(6, 0) + exifSegment(1, 0))));     // two EXIF blocks
    CHECK(!read(withSegments(jpeg, std::string("\x01\x02", 2))));                // stray bytes
    CHECK(!read(std::string(jpeg.data(), 2)));
    CHECK(!read(""));
    CHECK(!read(save(pattern(10, 10), ".png").substr(0, 40)));                   // cut before IDAT
    {
        // An extension whose first sub-block is empty: libnsgif takes that block as
        // data and reads on past it, finds no frame, and refuses the file.
        std::string gif = save(pattern(23, 9), ".gif");
        const size_t afterPalette = 13 + ((gif[10] & 0x80) ? (size_t(3) << ((gif[10] & 7) + 1)) : 0);
        gif.insert(afterPalette, std::string("\x21\x00\x00", 3));
        CHECK(!read(gif));
        checkAgrees(probe, "gif with an empty extension block", gif);
    }
    // A GIF past the bounded read: its frame count would need the whole file.
    VImage noise = VImage::gaussnoise(700, 700, VImage::option()->set("sigma", 80.0)).cast(VIPS_FORMAT_UCHAR);
    const std::string big = save(VImage::bandjoin({noise, noise, noise}), ".gif");
    REQUIRE(big.size() > kImageHeaderScanLimit);
    CHECK(!read(big));
}

TEST_CASE("image header: cut and damaged files are refused or read as the probe reads them",
          "[jobs][image_header]") {
    PIXELMILL_SKIP_WITHOUT_TSAN_LIBVIPS();
    Probe probe;
    std::mt19937 random(20240611);
    for (const Sample& s : samples()) {
        if (s.bytes.size() > 300'000) continue;
        // Every cut in the first 700 bytes, then some further on.
        for (size_t n = 0; n < s.bytes.size(); n += n < 700 ? 1 : 1 + s.bytes.size() / 50)
            checkAgrees(probe, s.name + " cut to " + std::to_string(n), s.bytes.substr(0, n));
        // Single bytes changed in the header region.
        const size_t region = std::min<size_t>(s.bytes.size(), 2048);
        for (int i = 0; i < 200; ++i) {
            std::string damaged = s.bytes;
            size_t at = random() % region;
            damaged[at] = static_cast<char>(i % 3 == 0 ? damaged[at] ^ (1 << (random() % 8)) : random() % 256);
            checkAgrees(probe, s.name + " byte " + std::to_string(at) + " changed", damaged);
        }
    }
}

// Timing, not a check: `unit_tests "[.image_header_bench]"`.
TEST_CASE("image header: reader vs probe timing", "[.image_header_bench]") {
    test::initVips();
    test::TempDir dir;
    const std::vector<std::pair<std::string, std::string>> files{
        {"jpeg 4000x3000", save(pattern(4000, 3000), ".jpg")},
        {"png 1200x800", save(pattern(1200, 800), ".png")},
        {"webp 1200x800", save(pattern(1200, 800), ".webp")}};
    PluginHost host(test::pluginBuildDir(), PluginLimits{});
    host.scan();
    auto plugin = host.find("thumbnail");
    REQUIRE(plugin);
    FsBlobStore blobs(dir / "blobs", dir / "tmp", false);
    worker::ProcessExecutorOptions options;
    options.binary = PIXELMILL_TEST_BINARY;
    options.args = {"--plugin-dir", test::pluginBuildDir().string(), "--blob-dir", (dir / "blobs").string(),
                    "--tmp-dir", (dir / "tmp").string(), "--log-level", "error"};
    worker::ProcessExecutor workers(options, blobs);
    using Clock = std::chrono::steady_clock;
    auto perCall = [](int n, auto&& f) {
        f();  // warm
        auto t0 = Clock::now();
        for (int i = 0; i < n; ++i) f();
        return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;
    };
    for (const auto& [name, bytes] : files) {
        const std::string path = (dir / "source").string();
        test::writeFile(path, bytes);
        const std::string type = mediaType(bytes);
        const std::span<const unsigned char> inMemory(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
        REQUIRE(readImageHeader(type, inMemory));
        int answered = 0;
        double parse = perCall(20000, [&] { answered += readImageHeader(type, inMemory).has_value(); });
        const std::string head = bytes.substr(0, 4096);
        double fromHead = perCall(20000, [&] {
            answered += readImageHeader(type, {reinterpret_cast<const unsigned char*>(head.data()), head.size()}).has_value();
        });
        double reader = perCall(2000, [&] {
            MappedFile file(path);
            answered += readImageHeader(type, file.bytes()).has_value();
        });
        CHECK(answered >= 22002);
        double inProcess = perCall(50, [&] { host.probe(*plugin, path, type); });
        double worker = perCall(50, [&] { REQUIRE(workers.probe(plugin->name, plugin->version, path, type).error.empty()); });
        WARN(name << " (" << bytes.size() << " bytes): parse in memory " << parse << " us, from the first 4 KiB " << fromHead << " us, map the file and parse " << reader << " us, probe in process " << inProcess
                  << " us, probe in a worker " << worker << " us");
    }
}

}  // namespace pixelmill
