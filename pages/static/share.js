// The share page: draws the BlurHash placeholder (blurha.sh; the decoder of its
// reference implementation, made small) until the photo has loaded; says why when it cannot
// load; the file name where this browser uploaded it; Statistics for the signed in.
"use strict";
(() => {
  const E = Enlarger;
  const id = location.pathname.split("/")[2];
  const REASONS = { undecodable: "its pixel data cannot be decoded (the file is damaged or truncated)" };
  const CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";
  const decode83 = (s) => [...s].reduce((v, c) => v * 83 + CHARS.indexOf(c), 0);
  const toLinear = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const toSrgb = (v) => {
    v = Math.max(0, Math.min(1, v));
    return Math.round((v <= 0.0031308 ? v * 12.92 : 1.055 * Math.pow(v, 1 / 2.4) - 0.055) * 255);
  };
  const signPow = (v, e) => Math.sign(v) * Math.pow(Math.abs(v), e);

  function decode(hash, width, height) {
    const size = decode83(hash[0]);
    const nx = (size % 9) + 1, ny = Math.floor(size / 9) + 1;
    const maxAc = (decode83(hash[1]) + 1) / 166;
    const colours = [];
    const dc = decode83(hash.slice(2, 6));
    colours.push([toLinear(dc >> 16), toLinear((dc >> 8) & 255), toLinear(dc & 255)]);
    for (let i = 1; i < nx * ny; i++) {
      const v = decode83(hash.slice(4 + i * 2, 6 + i * 2));
      const q = [Math.floor(v / 361), Math.floor(v / 19) % 19, v % 19];
      colours.push(q.map((c) => signPow((c - 9) / 9, 2) * maxAc));
    }
    const pixels = new Uint8ClampedArray(width * height * 4);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const rgb = [0, 0, 0];
        for (let j = 0; j < ny; j++) {
          for (let i = 0; i < nx; i++) {
            const basis = Math.cos((Math.PI * x * i) / width) * Math.cos((Math.PI * y * j) / height);
            const c = colours[i + j * nx];
            rgb[0] += c[0] * basis; rgb[1] += c[1] * basis; rgb[2] += c[2] * basis;
          }
        }
        const p = 4 * (x + y * width);
        pixels[p] = toSrgb(rgb[0]); pixels[p + 1] = toSrgb(rgb[1]); pixels[p + 2] = toSrgb(rgb[2]);
        pixels[p + 3] = 255;
      }
    }
    return pixels;
  }

  const name = E.fileName(id) || (E.anonymousUploads().find((e) => e.id === id) || {}).name;
  if (name) {
    const line = document.getElementById("your-file");
    line.textContent = "Your file: " + name;
    line.hidden = false;
  }
  if (E.apiKey()) document.getElementById("stats-link").hidden = false;  // 403 if not theirs

  const frame = document.querySelector(".frame");
  const photo = document.getElementById("photo");
  const canvas = frame && frame.querySelector("canvas.placeholder");
  if (!frame || !photo) return;

  // The photo did not load: the metadata says whether it ever can.
  async function unshown() {
    const notice = document.getElementById("unshown");
    let why = "it could not be loaded just now; try again later";
    try {
      const metadata = await E.api("GET", "/v1/images/" + id, { auth: false });
      if (metadata.renderable === false) {
        why = "it cannot be shown: " + (REASONS[metadata.unrenderable_reason] || metadata.unrenderable_reason);
      }
    } catch (error) { why = error.message; }
    frame.hidden = true;
    notice.textContent = "This image was uploaded, but " + why + ".";
    notice.hidden = false;
  }
  photo.addEventListener("error", unshown, { once: true });
  // Hide the placeholder once the photo is decoded and can be painted, not merely loaded.
  const loaded = () => photo.decode().catch(() => {}).then(() => frame.classList.add("loaded"));
  if (photo.complete && photo.naturalWidth > 0) { loaded(); return; }
  if (photo.complete) { unshown(); return; }  // it failed before this script ran
  photo.addEventListener("load", loaded);
  const hash = canvas && canvas.dataset.blurhash;
  if (!hash || hash.length < 6) return;
  try {
    const w = 32, h = Math.max(1, Math.round((32 * photo.getAttribute("height")) / photo.getAttribute("width")));
    canvas.width = w; canvas.height = h;
    const context = canvas.getContext("2d");
    context.putImageData(new ImageData(decode(hash, w, h), w, h), 0, 0);
  } catch (_) { /* a bad hash: no placeholder */ }
})();
