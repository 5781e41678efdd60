// The upload page: files from the picker, a drop or a paste; one XMLHttpRequest per file so that
// its progress bar shows the real upload progress; the link and copy buttons on success, the
// API's own words on failure. A file over the limit is refused here, before it is sent. Each
// batch lists its successes first (in the order chosen), then its failures, and has one button
// that copies every link.
"use strict";
(() => {
  const E = Enlarger;
  const list = document.getElementById("uploads");
  const input = document.getElementById("files");
  const drop = document.getElementById("drop");
  let counter = 0;
  let limits = null;  // GET /v1/limits, once answered
  const REASONS = { undecodable: "its pixel data cannot be decoded (the file is damaged or truncated)" };

  // The link to copy: the large size (the default) in a format every reader shows.
  const linkOf = (answer) => E.portableUrl(answer.url, answer.format);

  function formats(answer, name) {
    const alt = (name || "image").replace(/[\[\]"<>]/g, "");
    const url = linkOf(answer);
    const large = limits && limits.sizes && limits.sizes.large;
    const size = large ? E.servedSize(answer.width, answer.height, large) : null;
    const dimensions = size ? ' width="' + size[0] + '" height="' + size[1] + '"' : "";
    return [
      ["URL", url],
      ["Share page", answer.url.replace("/i/", "/p/")],
      ["Markdown", "![" + alt + "](" + url + ")"],
      ["HTML", '<img src="' + url + '"' + dimensions + ' alt="' + alt + '">'],
      ["BBCode", "[img]" + url + "[/img]"],
    ];
  }

  function copyRow(id, label, value) {
    const fieldId = "f" + id + "-" + label.toLowerCase().replace(/\W+/g, "-");
    return E.el("div", { class: "copy-row" },
      E.el("label", { for: fieldId, text: label }),
      E.el("input", { id: fieldId, type: "text", readonly: "", value }),
      E.el("button", { type: "button", "data-copy": fieldId, "aria-label": "Copy " + label,
                       text: "Copy" }));
  }

  // A batch: the files of one pick, drop or paste, newest batch first.
  function batch(count) {
    const items = E.el("ul", { class: "uploads" });
    const copyAll = E.el("button", { type: "button", class: "secondary copy-all", hidden: "",
                                     text: "Copy all links" });
    const group = E.el("section", { class: "batch", "aria-label": "Upload of " + E.plural(count, "file") },
                       E.el("div", { class: "toolbar" }, copyAll), items);
    const state = { items, copyAll, links: new Map() };
    copyAll.addEventListener("click", () => {
      const ordered = [...state.links.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
      E.copy(ordered.join("\n"), copyAll);
    });
    list.prepend(group);
    return state;
  }

  // Successes first, then those under way, then failures; each in the order chosen.
  function reorder(group) {
    const rank = (li) => (li.classList.contains("done") ? 0 : li.classList.contains("failed") ? 2 : 1);
    const items = [...group.items.children];
    const sorted = [...items].sort((a, b) => rank(a) - rank(b) || a.dataset.order - b.dataset.order);
    if (sorted.some((li, i) => li !== items[i])) group.items.append(...sorted);
  }

  function row(file, group, order) {
    const id = ++counter;
    const progress = E.el("progress", { max: "100", value: "0", "aria-label": "Upload of " + (file.name || "the pasted image") });
    const status = E.el("p", { class: "status", role: "status", text: "Waiting…" });
    const thumb = E.el("img", { class: "thumb", alt: "", width: "96", height: "96" });
    const body = E.el("div", {}, E.el("p", { class: "name", text: file.name || "pasted image" }),
                      progress, status);
    const item = E.el("li", { class: "upload", "data-order": String(order) }, thumb, body);
    group.items.append(item);
    return { id, item, progress, status, thumb, body, group, order };
  }

  function succeed(view, answer, file) {
    view.progress.value = 100;
    view.item.classList.add("done");
    view.status.className = "status done";
    view.status.textContent = answer.deduplicated ? "Uploaded (already in your list)." : "Uploaded.";
    view.thumb.alt = "Preview of " + (file.name || "the pasted image");
    view.thumb.addEventListener("error", () => unshown(view, answer), { once: true });
    view.thumb.src = answer.sizes.small;
    const link = E.el("a", { class: "link", href: answer.url.replace("/i/", "/p/"), text: "Open the share page" });
    const rows = formats(answer, file.name).map(([l, v]) => copyRow(view.id, l, v));
    view.links = E.el("div", { class: "links" }, link, ...rows);
    view.body.append(view.links);
    E.keepFileName(answer.id, file.name || "");
    if (answer.delete_url) {
      E.keepAnonymousUpload({ id: answer.id, url: answer.url, small: answer.sizes.small,
                              delete_url: answer.delete_url, at: new Date().toISOString(),
                              name: file.name || "" });
    }
    view.group.links.set(view.order, linkOf(answer));
    view.group.copyAll.hidden = view.group.links.size < 2;
    reorder(view.group);
    if (answer.renderable === false) unshown(view, answer);
  }

  // The preview did not load: ask the metadata whether the image can be shown at all.
  async function unshown(view, answer) {
    let metadata = answer;
    try { metadata = await E.api("GET", "/v1/images/" + answer.id, { auth: false }); } catch (_) { /* keep */ }
    if (metadata.renderable !== false) {
      view.status.textContent = "Uploaded; the preview could not be loaded.";
      return;
    }
    const why = REASONS[metadata.unrenderable_reason] || metadata.unrenderable_reason || "unknown";
    view.item.classList.replace("done", "failed");
    view.thumb.replaceWith(E.el("div", { class: "thumb" }));  // an empty box, not a broken image
    view.links.remove();
    view.status.className = "status error";
    view.status.replaceChildren("Uploaded, but it cannot be shown: " + why + ". ",
      E.el("a", { href: "/me", text: "Delete it on My images" }), ".");
    view.group.links.delete(view.order);
    view.group.copyAll.hidden = view.group.links.size < 2;
    reorder(view.group);
  }

  function fail(view, message) {
    view.item.classList.add("failed");
    view.status.className = "status error";
    view.status.textContent = "Not uploaded: " + message;
    reorder(view.group);
  }

  function upload(file, group, order) {
    const view = row(file, group, order);
    if (limits && file.size > limits.max_upload_bytes) {  // never sent: the server would refuse it
      fail(view, "the file is " + E.humanBytes(file.size) + "; uploads are limited to " +
        E.humanBytes(limits.max_upload_bytes) + ".");
      return;
    }
    const form = new FormData();
    form.append("file", file, file.name || "pasted.png");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/images");
    for (const [name, value] of Object.entries(E.authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      view.progress.value = Math.round((event.loaded / event.total) * 100);
      view.status.textContent = "Uploading… " + view.progress.value + " %";
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 201) succeed(view, JSON.parse(xhr.responseText), file);
      else fail(view, E.errorText(xhr.status, xhr.responseText));
    });
    xhr.addEventListener("error", () => fail(view, E.errorText(0, "")));
    xhr.addEventListener("timeout", () => fail(view, "the upload timed out"));
    view.status.textContent = "Uploading…";
    xhr.send(form);
  }

  function uploadAll(files) {
    if (!files.length) return;
    const group = batch(files.length);
    [...files].forEach((file, order) => upload(file, group, order));
  }

  input.addEventListener("change", () => { uploadAll(input.files); input.value = ""; });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => { event.preventDefault(); uploadAll(event.dataTransfer.files); });
  document.addEventListener("paste", (event) => {
    const files = [...event.clipboardData.items].filter((i) => i.kind === "file").map((i) => i.getAsFile());
    if (files.length) { event.preventDefault(); uploadAll(files); }
  });

  if (E.apiKey()) {
    document.getElementById("who").textContent = "Signed in: your uploads go to your list.";
  }
  E.api("GET", "/v1/limits", { auth: false }).then((answer) => {
    limits = answer;
    document.getElementById("limits").textContent = "Up to " + E.humanBytes(answer.max_upload_bytes) +
      " per image; " + answer.accepted_formats.join(", ") + ".";
    if (!answer.anonymous_uploads && !E.apiKey()) {
      document.getElementById("who").textContent = "This server needs an API key for uploads: sign in on My images.";
    }
  }).catch(() => {});
})();
