// Shared by every page: the API key kept in this browser, API calls whose errors are read
// from the JSON error shape, copying to the clipboard, and anonymous uploads kept here.
"use strict";
const Enlarger = (() => {
  const KEY = "enlarger.apiKey";
  const UPLOADS = "enlarger.anonymousUploads";

  function apiKey() { return localStorage.getItem(KEY) || ""; }
  function setApiKey(key) { key ? localStorage.setItem(KEY, key) : localStorage.removeItem(KEY); }
  function authHeaders() { const k = apiKey(); return k ? { Authorization: "Bearer " + k } : {}; }

  // "413 payload_too_large: the upload exceeds the 32 MiB limit" from an error answer.
  function errorText(status, body) {
    try {
      const err = JSON.parse(body).error;
      if (err && err.message) return err.message + (err.limit ? " (limit: " + err.limit + ")" : "");
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
  function keepAnonymousUpload(entry) {
    const kept = anonymousUploads().filter((e) => e.id !== entry.id);
    kept.unshift(entry);
    localStorage.setItem(UPLOADS, JSON.stringify(kept.slice(0, 500)));
  }
  function forgetAnonymousUpload(id) {
    localStorage.setItem(UPLOADS, JSON.stringify(anonymousUploads().filter((e) => e.id !== id)));
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

  return { apiKey, setApiKey, authHeaders, errorText, api, copy, el,
           anonymousUploads, keepAnonymousUpload, forgetAnonymousUpload };
})();
