// My images: sign in by pasting an API key (kept in localStorage, sent as a header, never in a
// URL), the user's images with their views, copy and delete; anonymous uploads made from this
// browser with their delete links; "#delete=<id>.<token>" (an upload's delete_page) asks first.
"use strict";
(() => {
  const E = Enlarger;
  const $ = (id) => document.getElementById(id);

  function notice(text, error) {
    $("notice").hidden = false;
    $("notice").className = "notice" + (error ? " error" : "");
    $("notice").textContent = text;
  }

  function card(entry, onDelete) {
    const share = "/p/" + entry.id;
    const views = entry.views === undefined ? null : E.el("span", { text: entry.views + " views" });
    const copyButton = E.el("button", { type: "button", class: "secondary", text: "Copy link",
      "aria-label": "Copy link of " + (entry.name || entry.id),
      onclick: (event) => E.copy(location.origin + share, event.currentTarget) });
    const deleteButton = E.el("button", { type: "button", class: "danger", text: "Delete",
      "aria-label": "Delete " + (entry.name || entry.id),
      onclick: () => onDelete(entry, item) });
    const stats = entry.views === undefined ? null : E.el("a", { href: share + "/stats", text: "Statistics" });
    const item = E.el("li", { class: "card" },
      E.el("a", { href: share }, E.el("img", { src: entry.small, alt: entry.name || "Image " + entry.id,
                                                loading: "lazy", width: "320", height: "240" })),
      E.el("div", { class: "body" },
        E.el("span", { class: "hint", text: entry.name || entry.id }), views,
        E.el("div", { class: "actions" }, copyButton, deleteButton, stats)));
    return item;
  }

  async function deleteMine(entry, item) {
    try {
      await E.api("DELETE", "/v1/images/" + entry.id);
      item.remove();
      notice("Deleted.");
    } catch (error) { notice("Not deleted: " + error.message, true); }
  }

  async function deleteAnonymous(entry, item) {
    try {
      await E.api("DELETE", new URL(entry.delete_url).pathname, { auth: false });
    } catch (error) {
      if (error.status !== 404) { notice("Not deleted: " + error.message, true); return; }
    }
    E.forgetAnonymousUpload(entry.id);
    if (item) item.remove();
    notice("Deleted.");
  }

  async function loadMine() {
    const sort = $("sort").value;
    const answer = await E.api("GET", "/v1/me/images?limit=200&sort=" + sort);
    $("user").textContent = "Signed in as " + answer.user + " · " + answer.images.length + " images";
    $("mine").replaceChildren(...answer.images.map((image) => card({
      id: image.id, small: image.sizes.small, name: image.filename, views: image.views,
    }, deleteMine)));
  }

  async function showAccount() {
    const signedIn = Boolean(E.apiKey());
    $("signin").hidden = signedIn;
    $("account").hidden = !signedIn;
    if (!signedIn) return;
    try { await loadMine(); } catch (error) {
      if (error.status === 401) { E.setApiKey(""); $("signin").hidden = false; $("account").hidden = true; }
      notice(error.message, true);
    }
  }

  function showAnonymous() {
    const entries = E.anonymousUploads();
    $("anonymous").replaceChildren(...entries.map((entry) => card(entry, deleteAnonymous)));
  }

  async function downloadShareX() {
    const answer = await fetch("/v1/sharex.sxcu", { headers: E.authHeaders() });
    const link = E.el("a", { href: URL.createObjectURL(await answer.blob()), download: "enlarger.sxcu" });
    document.body.append(link); link.click(); link.remove();
  }

  let pending = null;  // {id, token} of a "#delete=<id>.<token>" link, until answered

  function confirmFromFragment() {
    const match = /^#delete=([a-z2-7]{26})\.(del_[\w-]+)$/.exec(location.hash);
    if (!match) return;
    pending = { id: match[1], token: match[2] };
    $("confirm").hidden = false;
    $("confirm-text").textContent = "Image " + pending.id + " will be deleted.";
    $("confirm-delete").focus();
  }

  function closeConfirm() {
    pending = null;
    $("confirm").hidden = true;
    history.replaceState(null, "", "/me");
  }

  $("confirm-delete").addEventListener("click", async () => {
    if (!pending) return;
    const { id, token } = pending;
    closeConfirm();
    await deleteAnonymous({ id, delete_url: location.origin + "/v1/images/" + id + "/delete/" + token }, null);
    showAnonymous();
  });
  $("confirm-cancel").addEventListener("click", closeConfirm);
  window.addEventListener("hashchange", confirmFromFragment);

  $("signin").addEventListener("submit", (event) => {
    event.preventDefault();
    E.setApiKey($("key").value.trim());
    $("key").value = "";
    showAccount();
  });
  $("signout").addEventListener("click", () => { E.setApiKey(""); showAccount(); });
  $("sort").addEventListener("change", () => loadMine().catch((e) => notice(e.message, true)));
  $("sharex").addEventListener("click", () => downloadShareX().catch((e) => notice(e.message, true)));
  confirmFromFragment();
  showAccount();
  showAnonymous();
})();
