#include "support/images.h"

#include "support/daemon.h"

#include <vips/vips8>

#include <array>
#include <mutex>
#include <random>
#include <stdexcept>

namespace pixelmill::test {

using vips::VImage;

void initVips() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (VIPS_INIT("pixelmill-tests") != 0) throw std::runtime_error("vips_init failed");
        vips_cache_set_max(0);
    });
}

namespace {

VImage pattern(int width, int height, int seed, int bands) {
    initVips();
    // Two gradients and some noise: enough texture that encoders do real work.
    VImage xy = VImage::xyz(width, height);
    VImage x = xy.extract_band(0) * (255.0 / std::max(1, width - 1));
    VImage y = xy.extract_band(1) * (255.0 / std::max(1, height - 1));
    VImage noise = VImage::gaussnoise(width, height, VImage::option()->set("sigma", 20.0)->set("mean", 0.0)->set("seed", seed));
    VImage r = (x + noise).cast(VIPS_FORMAT_UCHAR);
    VImage g = (y + noise).cast(VIPS_FORMAT_UCHAR);
    VImage b = ((x + y) * 0.5 + seed % 64).cast(VIPS_FORMAT_UCHAR);
    VImage rgb = VImage::bandjoin(std::vector<VImage>{r, g, b}).copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
    if (bands == 4) rgb = rgb.bandjoin(VImage::black(width, height).linear(1.0, 200.0).cast(VIPS_FORMAT_UCHAR));
    return rgb.copy_memory();
}

}  // namespace

void makeJpeg(const std::filesystem::path& path, int width, int height, int orientation, int seed, int quality) {
    VImage image = pattern(width, height, seed, 3);
    if (orientation != 1) {
        image = image.copy();
        image.set(VIPS_META_ORIENTATION, orientation);
    }
    image.jpegsave(path.c_str(), VImage::option()->set("Q", quality));
}

void makePng(const std::filesystem::path& path, int width, int height, bool alpha, int seed) {
    pattern(width, height, seed, alpha ? 4 : 3).pngsave(path.c_str(), VImage::option()->set("compression", 1));
}

void makeTruncatedJpeg(const std::filesystem::path& path) {
    auto tmp = path.string() + ".full.jpg";
    makeJpeg(tmp, 800, 600, 1, 7, 90);
    std::string bytes = readFile(tmp);
    std::filesystem::remove(tmp);
    writeFile(path, bytes.substr(0, bytes.size() * 6 / 10));
}

void makeGarbageJpeg(const std::filesystem::path& path) {
    std::string bytes = "\xff\xd8\xff\xe0";
    std::mt19937 rng(42);
    for (int i = 0; i < 5000; ++i) bytes.push_back(static_cast<char>(rng() & 0xff));
    writeFile(path, bytes);
}

namespace {

uint32_t crc32(const std::string& data) {
    static std::array<uint32_t, 256> table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t n = 0; n < 256; ++n) {
            uint32_t c = n;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }();
    uint32_t c = 0xffffffffu;
    for (unsigned char b : data) c = table[(c ^ b) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

void put32(std::string& out, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xff));
}

void chunk(std::string& out, const std::string& type, const std::string& data) {
    put32(out, static_cast<uint32_t>(data.size()));
    std::string body = type + data;
    out += body;
    put32(out, crc32(body));
}

}  // namespace

void makePngBomb(const std::filesystem::path& path, uint32_t width, uint32_t height) {
    std::string png = "\x89PNG\r\n\x1a\n";
    std::string ihdr;
    put32(ihdr, width);
    put32(ihdr, height);
    ihdr += std::string("\x08\x00\x00\x00\x00", 5);  // 8-bit greyscale, deflate, no filter, no interlace
    chunk(png, "IHDR", ihdr);
    chunk(png, "IDAT", std::string("\x78\x9c\x03\x00\x00\x00\x00\x01", 8));  // an empty zlib stream
    chunk(png, "IEND", "");
    writeFile(path, png);
}

ImageInfo decodeImage(const std::string& bytes) {
    initVips();
    VImage image = VImage::new_from_buffer(bytes.data(), bytes.size(), "", VImage::option()->set("fail_on", VIPS_FAIL_ON_TRUNCATED));
    (void)image.avg();  // decode every pixel
    ImageInfo info;
    info.width = image.width();
    info.height = image.height();
    info.bands = image.bands();
    const char* loader = nullptr;
    if (vips_image_get_typeof(image.get_image(), "vips-loader")) vips_image_get_string(image.get_image(), "vips-loader", &loader);
    info.loader = loader ? loader : "";
    return info;
}

double meanPixel(const std::string& bytes) {
    initVips();
    return VImage::new_from_buffer(bytes.data(), bytes.size(), "").avg();
}

}  // namespace pixelmill::test
