// The upload page: files from the picker, a drop or a paste; one XMLHttpRequest per file so that
// its progress bar shows the real upload progress; the link and copy buttons on success, the
// API's own words on failure.
"use strict";
(() => {
  const E = Enlarger;
  const list = document.getElementById("uploads");
  const input = document.getElementById("files");
  const drop = document.getElementById("drop");
  let counter = 0;

  function formats(answer, name) {
    const alt = (name || "image").replace(/[\[\]"<>]/g, "");
    return [
      ["URL", answer.url],
      ["Share page", answer.url.replace("/i/", "/p/")],
      ["Markdown", "![" + alt + "](" + answer.url + ")"],
      ["HTML", '<img src="' + answer.url + '" width="' + answer.width + '" height="' +
        answer.height + '" alt="' + alt + '">'],
      ["BBCode", "[img]" + answer.url + "[/img]"],
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

  function row(file) {
    const id = ++counter;
    const progress = E.el("progress", { max: "100", value: "0", "aria-label": "Upload of " + file.name });
    const status = E.el("p", { class: "status", role: "status", text: "Waiting…" });
    const thumb = E.el("img", { class: "thumb", alt: "", width: "96", height: "96" });
    const body = E.el("div", {}, E.el("p", { class: "name", text: file.name || "pasted image" }),
                      progress, status);
    const item = E.el("li", { class: "upload" }, thumb, body);
    list.prepend(item);
    return { id, item, progress, status, thumb, body };
  }

  function succeed(view, answer, file) {
    view.progress.value = 100;
    view.status.className = "status done";
    view.status.textContent = answer.deduplicated ? "Uploaded (already in your list)." : "Uploaded.";
    view.thumb.src = answer.sizes.small;
    view.thumb.alt = "Preview of " + (file.name || "the pasted image");
    const link = E.el("a", { class: "link", href: answer.url.replace("/i/", "/p/"), text: "Open the share page" });
    view.body.append(link, ...formats(answer, file.name).map(([l, v]) => copyRow(view.id, l, v)));
    if (answer.delete_url) {
      E.keepAnonymousUpload({ id: answer.id, url: answer.url, small: answer.sizes.small,
                              delete_url: answer.delete_url, at: new Date().toISOString(),
                              name: file.name || "" });
    }
  }

  function fail(view, message) {
    view.item.classList.add("failed");
    view.status.className = "status error";
    view.status.textContent = "Not uploaded: " + message;
  }

  function upload(file) {
    const view = row(file);
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

  function uploadAll(files) { for (const file of files) upload(file); }

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
  E.api("GET", "/v1/limits", { auth: false }).then((limits) => {
    const mb = Math.floor(limits.max_upload_bytes / 1048576);
    document.getElementById("limits").textContent = "Up to " + mb + " MB per image; " +
      limits.accepted_formats.join(", ") + ".";
    if (!limits.anonymous_uploads && !E.apiKey()) {
      document.getElementById("who").textContent = "This server needs an API key for uploads: sign in on My images.";
    }
  }).catch(() => {});
})();
