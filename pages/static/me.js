// My images: sign in by pasting an API key (kept in localStorage, sent as a header, never in a
// URL), the user's images with their views, copy and delete; anonymous uploads made from this
// browser with their delete links; "#delete=<id>.<token>" (an upload's delete_page). Every
// delete asks first, removes every claim this browser holds, and says whether the image is gone.
"use strict";
(() => {
  const E = Enlarger;
  const $ = (id) => document.getElementById(id);
  const mineIds = new Set();  // the signed-in user's images, as last listed

  function notice(text, error) {
    $("notice").hidden = false;
    $("notice").className = "notice" + (error ? " error" : "");
    $("notice").textContent = text;
  }

  function card(entry, kind) {
    const share = "/p/" + entry.id;
    const views = entry.views === undefined ? null : E.el("span", { text: E.plural(entry.views, "view") });
    const copyButton = E.el("button", { type: "button", class: "secondary", text: "Copy link",
      "aria-label": "Copy link of " + (entry.name || entry.id),
      onclick: (event) => E.copy(location.origin + share, event.currentTarget) });
    const deleteButton = E.el("button", { type: "button", class: "danger", text: "Delete",
      "aria-label": "Delete " + (entry.name || entry.id),
      onclick: (event) => ask(entry, event.currentTarget) });
    const stats = kind === "mine" ? E.el("a", { href: share + "/stats", text: "Statistics" }) : null;
    return E.el("li", { class: "card", "data-id": entry.id },
      E.el("a", { href: share }, E.el("img", { src: entry.small, alt: entry.name || "Image " + entry.id,
                                                loading: "lazy", width: "320", height: "240" })),
      E.el("div", { class: "body" },
        E.el("span", { class: "hint", text: entry.name || entry.id }), views,
        E.el("div", { class: "actions" }, copyButton, deleteButton, stats)));
  }

  // Every claim this browser holds on an image: the signed-in user's, and each anonymous
  // upload's delete link (the same bytes uploaded twice from here are two claims).
  function claimsOf(id, extraUrl) {
    const entry = E.anonymousUploads().find((e) => e.id === id);
    const urls = [...new Set([...(entry ? E.deleteUrls(entry) : []), ...(extraUrl ? [extraUrl] : [])])];
    return { mine: mineIds.has(id), urls };
  }

  // Deletes every claim, then asks whether the image is gone: the server answers 204 whether
  // or not another uploader still holds the same bytes, so only then can the page say which.
  async function deleteEverywhere(id, extraUrl) {
    const claims = claimsOf(id, extraUrl);
    const failures = [];
    if (claims.mine) {
      try { await E.api("DELETE", "/v1/images/" + id); } catch (error) {
        if (error.status !== 404) failures.push(error.message);
      }
    }
    const done = [];
    for (const url of claims.urls) {
      try { await E.api("DELETE", new URL(url, location.origin).pathname, { auth: false }); done.push(url); } catch (error) {
        if (error.status === 404) done.push(url); else failures.push(error.message);
      }
    }
    E.forgetAnonymousUpload(id, done);
    if (failures.length) { notice("Not deleted: " + failures[0], true); return; }
    const gone = await isGone(id);
    for (const item of document.querySelectorAll('.card[data-id="' + id + '"]')) item.remove();
    mineIds.delete(id);
    notice(gone ? "Deleted: the image is gone." :
      "Deleted your uploads of this image. It is still online: someone else uploaded the same image too.");
  }

  async function isGone(id) {
    try { await E.api("GET", "/v1/images/" + id, { auth: false }); return false; } catch (error) {
      return error.status === 404;
    }
  }

  async function loadMine() {
    const sort = $("sort").value;
    const answer = await E.api("GET", "/v1/me/images?limit=200&sort=" + sort);
    $("user").textContent = "Signed in as " + answer.user + " · " + E.plural(answer.images.length, "image");
    mineIds.clear();
    for (const image of answer.images) mineIds.add(image.id);
    $("mine").replaceChildren(...answer.images.map((image) => card({
      id: image.id, small: image.sizes.small, name: image.filename, views: image.views,
    }, "mine")));
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
    $("anonymous").replaceChildren(...entries.map((entry) => card(entry, "anonymous")));
  }

  async function downloadShareX() {
    const answer = await fetch("/v1/sharex.sxcu", { headers: E.authHeaders() });
    const link = E.el("a", { href: URL.createObjectURL(await answer.blob()), download: "enlarger.sxcu" });
    document.body.append(link); link.click(); link.remove();
  }

  let pending = null;  // {id, url?, from} of the delete being asked about, until answered

  // Every delete asks first, in this one place: a card's Delete button, and a
  // "#delete=<id>.<token>" link (an upload's delete_page, or its delete_url opened here).
  function ask(entry, from) {
    pending = { id: entry.id, url: entry.deleteUrl, from };
    const count = claimsOf(entry.id, entry.deleteUrl);
    const what = entry.name ? "“" + entry.name + "”" : "Image " + entry.id;
    $("confirm-text").textContent = what + " will be deleted" +
      (count.urls.length + (count.mine ? 1 : 0) > 1 ? " (every upload of it from this browser)." : ".");
    $("confirm").hidden = false;
    $("confirm").scrollIntoView({ block: "nearest" });
    $("confirm-delete").focus();
  }

  function confirmFromFragment() {
    const match = /^#delete=([a-z2-7]{26})\.(del_[\w-]+)$/.exec(location.hash);
    if (!match) return;
    ask({ id: match[1], deleteUrl: location.origin + "/v1/images/" + match[1] + "/delete/" + match[2] }, null);
  }

  function closeConfirm() {
    const from = pending && pending.from;
    pending = null;
    $("confirm").hidden = true;
    if (location.hash) history.replaceState(null, "", "/me");
    if (from && from.isConnected) from.focus();
  }

  $("confirm-delete").addEventListener("click", async () => {
    if (!pending) return;
    const { id, url } = pending;
    closeConfirm();
    await deleteEverywhere(id, url);
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
