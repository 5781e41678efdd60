// Shared by every page: the API key kept in this browser, API calls whose errors are read
// from the JSON error shape, copying to the clipboard, anonymous uploads kept here (every
// delete link of each: the same bytes uploaded twice are two claims), sizes in words.
"use strict";
const Enlarger = (() => {
  const KEY = "enlarger.apiKey";
  const UPLOADS = "enlarger.anonymousUploads";
  const NAMES = "enlarger.fileNames";  // the file name of each upload made here, by image id

  function apiKey() { return localStorage.getItem(KEY) || ""; }
  function setApiKey(key) { key ? localStorage.setItem(KEY, key) : localStorage.removeItem(KEY); }
  function authHeaders() { const k = apiKey(); return k ? { Authorization: "Bearer " + k } : {}; }

  // "2.1 MB", "740 KB", "512 bytes" (binary multiples, as the pages say the upload limit).
  function humanBytes(count) {
    if (count < 1024) return count + " bytes";
    if (count < 1048576) return Math.round(count / 1024) + " KB";
    return (count / 1048576).toFixed(1).replace(/\.0$/, "") + " MB";
  }
  const plural = (count, word) => count + " " + word + (count === 1 ? "" : "s");

  // Python's round() (half to even), as the server computes served sizes.
  function roundEven(x) {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }
  // The size a named size's box serves: the longest side fits, never upscaled (proxy.geometry).
  function servedSize(width, height, box) {
    const scale = Math.min(1, box / width, box / height);
    return [Math.max(1, roundEven(width * scale)), Math.max(1, roundEven(height * scale))];
  }
  // A link in a format every reader shows: AVIF (X, Facebook, many forums show none) as JPEG.
  function portableUrl(url, format) { return format === "avif" ? url + ".jpg" : url; }

  // The API's words from an error answer, sizes in bytes said in KB/MB.
  function errorText(status, body) {
    try {
      const err = JSON.parse(body).error;
      if (err && err.message) {
        const words = err.message.replace(/(\d+) bytes/g, (_, n) => humanBytes(Number(n)));
        return words + (err.limit && err.maximum === undefined ? " (limit: " + err.limit + ")" : "");
      }
    } catch (_) { /* not JSON: fall through */ }
    return status ? "the server answered " + status : "the server could not be reached";
  }

  async function api(method, path, options = {}) {
    const headers = Object.assign({}, options.auth === false ? {} : authHeaders(), options.headers);
    let answer;
    try {
      answer = await fetch(path, { method, headers, body: options.body, credentials: "omit" });
    } catch (_) {
      throw new Error(errorText(0, ""));
    }
    const text = await answer.text();
    if (!answer.ok) {
      const error = new Error(errorText(answer.status, text));
      error.status = answer.status;
      throw error;
    }
    return text ? JSON.parse(text) : null;
  }

  async function copy(text, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      const area = document.createElement("textarea");
      area.value = text; document.body.appendChild(area); area.select();
      document.execCommand("copy"); area.remove();
    }
    if (button) {
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = label; }, 1500);
    }
  }

  function anonymousUploads() {
    try { return JSON.parse(localStorage.getItem(UPLOADS) || "[]"); } catch (_) { return []; }
  }
  // Every delete link kept for an upload (entries kept before had one, as delete_url).
  function deleteUrls(entry) {
    return [...(entry.delete_urls || []), ...(entry.delete_url ? [entry.delete_url] : [])];
  }
  function saveUploads(entries) { localStorage.setItem(UPLOADS, JSON.stringify(entries.slice(0, 500))); }
  // The same image uploaded again from here: one entry holding both delete links.
  function keepAnonymousUpload(entry) {
    const all = anonymousUploads();
    const before = all.find((e) => e.id === entry.id);
    const urls = [...new Set([...(before ? deleteUrls(before) : []), ...deleteUrls(entry)])];
    const kept = Object.assign({}, entry, { delete_urls: urls });
    delete kept.delete_url;
    saveUploads([kept, ...all.filter((e) => e.id !== entry.id)]);
  }
  // Forget the given delete links of an image (all of them: forget the image).
  function forgetAnonymousUpload(id, urls) {
    const entries = anonymousUploads().map((e) => {
      if (e.id !== id) return e;
      const left = urls ? deleteUrls(e).filter((u) => !urls.includes(u)) : [];
      return left.length ? Object.assign({}, e, { delete_urls: left, delete_url: undefined }) : null;
    });
    saveUploads(entries.filter(Boolean));
  }

  function fileName(id) {
    try { return JSON.parse(localStorage.getItem(NAMES) || "{}")[id] || ""; } catch (_) { return ""; }
  }
  function keepFileName(id, name) {
    if (!name) return;
    let names = {};
    try { names = JSON.parse(localStorage.getItem(NAMES) || "{}"); } catch (_) { /* start again */ }
    names[id] = name;
    const ids = Object.keys(names);
    for (const old of ids.slice(0, Math.max(0, ids.length - 500))) delete names[old];
    localStorage.setItem(NAMES, JSON.stringify(names));
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  // Buttons with data-copy="<input id>" copy that input's value.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-copy]");
    if (button) copy(document.getElementById(button.dataset.copy).value, button);
  });

  return { apiKey, setApiKey, authHeaders, errorText, api, copy, el, humanBytes, plural,
           servedSize, portableUrl, anonymousUploads, keepAnonymousUpload, forgetAnonymousUpload,
           deleteUrls, fileName, keepFileName };
})();
