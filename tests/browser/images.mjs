// Test sources made on the spot: nothing is fetched.
import zlib from "node:zlib";

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

// An RGB PNG of width x height: a diagonal gradient with soft rings, so
// thumbnails look like something; `seed` shifts the colours.
export function makePng(width, height, seed = 0) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  const cx = width * 0.62, cy = height * 0.38;
  for (let y = 0; y < height; ++y) {
    const row = y * (width * 3 + 1);
    raw[row] = 0;
    for (let x = 0; x < width; ++x) {
      const t = (x / width + y / height) / 2;
      const d = Math.hypot(x - cx, y - cy) / Math.max(width, height);
      const ring = 0.5 + 0.5 * Math.cos(d * 40 + seed);
      const i = row + 1 + x * 3;
      raw[i] = Math.round(255 * (0.25 + 0.7 * t) * (0.7 + 0.3 * ring));
      raw[i + 1] = Math.round(255 * (0.35 + 0.4 * Math.sin(t * 3 + seed)) * (0.6 + 0.4 * ring));
      raw[i + 2] = Math.round(255 * (0.9 - 0.6 * t));
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8;  // bit depth
  header[9] = 2;  // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", zlib.deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

// A PDF of `pages` letter pages, each with a coloured block and its number.
export function makePdf(pages) {
  const objects = [];
  const pageIds = [];
  const fontId = 3 + pages * 2;
  objects[1] = "<< /Type /Catalog /Pages 2 0 R >>";
  for (let p = 0; p < pages; ++p) {
    const pageId = 3 + p * 2, contentId = pageId + 1;
    pageIds.push(`${pageId} 0 R`);
    const hue = [[0.31, 0.27, 0.9], [0.09, 0.5, 0.24], [0.85, 0.47, 0.02]][p % 3];
    const stream = `${hue.join(" ")} rg 72 420 468 300 re f\nBT /F1 64 Tf 1 1 1 rg 110 540 Td (Page ${p + 1}) Tj ET\n` +
                   `BT /F1 14 Tf 0.2 0.2 0.2 rg 72 380 Td (pixelmill browser test) Tj ET\n`;
    objects[pageId] = `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ${contentId} 0 R ` +
                      `/Resources << /Font << /F1 ${fontId} 0 R >> >> >>`;
    objects[contentId] = `<< /Length ${stream.length} >>\nstream\n${stream}endstream`;
  }
  objects[2] = `<< /Type /Pages /Kids [${pageIds.join(" ")}] /Count ${pages} >>`;
  objects[fontId] = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";
  let out = "%PDF-1.4\n";
  const offsets = [];
  for (let id = 1; id < objects.length; ++id) {
    offsets[id] = out.length;
    out += `${id} 0 obj\n${objects[id]}\nendobj\n`;
  }
  const xref = out.length;
  out += `xref\n0 ${objects.length}\n0000000000 65535 f \n`;
  for (let id = 1; id < objects.length; ++id) out += `${String(offsets[id]).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}
