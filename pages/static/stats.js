// Statistics of one image: views per day as an SVG bar chart drawn here (no charting library),
// and the breakdowns of the stats API (size in words, referrer, tier). Sends the API key when
// one is kept; says who can see statistics when this browser cannot.
"use strict";
(() => {
  const E = Enlarger;
  const SVG = "http://www.w3.org/2000/svg";
  const DAYS = 30;
  const id = location.pathname.split("/")[2];

  // A variant key (proxy/spec.py, the grammar of proxy/speckey.py) in words:
  // "p2.w320h320-cover.q80.same" -> "320×320 cover, q80, same format".
  const KEY = new RegExp("^p\\d+\\.(?:b(\\d+)|(orig)|(?:w(\\d+))?(?:h(\\d+))?(?:-(fill|cover|pad)(?:-([a-z-]+))?)?)" +
    "(?:\\.c(\\d+)_(\\d+)_(\\d+)_(\\d+))?(?:\\.r(\\d+))?(\\.flip)?(\\.flop)?(?:\\.blur([\\d.]+))?(?:\\.sh([\\d.]+))?" +
    "(?:\\.bg([0-9a-f]{8}))?(\\.txt[0-9a-f]{32})?\\.q(\\d+)\\.([a-z-]+)$");
  const FORMATS = { same: "same format", jpeg: "JPEG", png: "PNG", webp: "WebP", avif: "AVIF", gif: "GIF",
    auto: "the browser's best format", "auto-avif": "AVIF for the browser", "auto-webp": "WebP for the browser",
    "auto-legacy": "JPEG or PNG for the browser" };
  let boxes = {};  // named sizes by their box (GET /v1/limits)

  function describe(key) {
    const m = KEY.exec(key);
    if (!m) return key;
    const [, box, orig, w, h, fit, gravity, cx, cy, cw, ch, rot, flip, flop, blur, sharpen, bg, txt, q, fmt] = m;
    let size;
    if (box) size = (boxes[box] ? boxes[box] + ", " : "") + "up to " + box + " px";
    else if (orig) size = "original size";
    else if (w && h) size = w + "×" + h + (fit ? " " + fit + (gravity ? " " + gravity : "") : " at most");
    else if (w) size = w + " px wide";
    else if (h) size = h + " px high";
    else size = "original size";
    const parts = [size];
    if (cx !== undefined) parts.push("cropped to " + cw + "×" + ch + " at " + cx + "," + cy);
    if (rot) parts.push("turned " + rot + "°");
    if (flip) parts.push("flipped");
    if (flop) parts.push("mirrored");
    if (blur) parts.push("blur " + blur);
    if (sharpen) parts.push("sharpen " + sharpen);
    if (bg) parts.push("background #" + bg);
    if (txt) parts.push("with a text");  // the key holds a hash of it, not the text
    parts.push("q" + q, FORMATS[fmt] || fmt);
    return parts.join(", ");
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function lastDays(days) {
    const counts = new Map(days.map((d) => [d.day, d.views]));
    const out = [];
    const today = new Date();
    for (let i = DAYS - 1; i >= 0; i--) {
      const day = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i));
      const key = day.toISOString().slice(0, 10);
      out.push({ day: key, views: counts.get(key) || 0 });
    }
    return out;
  }

  function chart(days) {
    const W = 720, H = 240, left = 40, bottom = 28, top = 10;
    const max = Math.max(1, ...days.map((d) => d.views));
    const step = (W - left - 10) / days.length;
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart", role: "img",
      "aria-labelledby": "chart-desc" });
    const total = days.reduce((sum, d) => sum + d.views, 0);
    root.append(svg("title", { id: "chart-desc" }, E.plural(total, "view") + " in the last " + days.length + " days"));
    for (const fraction of [0, 0.5, 1]) {
      const y = H - bottom - fraction * (H - bottom - top);
      root.append(svg("line", { x1: left, x2: W - 10, y1: y, y2: y }));
      if (Number.isInteger(max * fraction)) {  // no "1, 1, 0" when the top is 1
        root.append(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, String(max * fraction)));
      }
    }
    days.forEach((d, i) => {
      const h = (d.views / max) * (H - bottom - top);
      const bar = svg("rect", { class: "bar-rect", x: left + i * step + 1, y: H - bottom - h,
        width: Math.max(1, step - 2), height: h });
      bar.append(svg("title", {}, d.day + ": " + E.plural(d.views, "view")));
      root.append(bar);
      if ((days.length - 1 - i) % 7 === 0) {  // every week, counted back from today
        root.append(svg("text", { x: left + i * step + step / 2, y: H - 8, "text-anchor": "middle" }, d.day.slice(5)));
      }
    });
    return root;
  }

  function table(title, column, rows, key, words = String) {
    const body = rows.length ? rows.map((r) => E.el("tr", {},
      E.el("td", { text: r[key] === null ? "(none)" : words(r[key]) }),
      E.el("td", { class: "num", text: String(r.views) }))) : [E.el("tr", {}, E.el("td", { colspan: "2", text: "No views yet" }))];
    return E.el("section", {}, E.el("h2", { text: title }),
      E.el("table", {}, E.el("thead", {}, E.el("tr", {}, E.el("th", { scope: "col", text: column }),
        E.el("th", { scope: "col", class: "num", text: "Views" }))), E.el("tbody", {}, ...body)));
  }

  async function show() {
    document.getElementById("back").href = "/p/" + id;
    try {
      const [stats, limits] = await Promise.all([E.api("GET", "/v1/images/" + id + "/stats"),
        E.api("GET", "/v1/limits", { auth: false }).catch(() => ({ sizes: {} }))]);
      boxes = Object.fromEntries(Object.entries(limits.sizes || {}).map(([name, box]) => [String(box), name]));
      document.getElementById("total").textContent = E.plural(stats.views, "view") + " in all";
      document.getElementById("total-line").hidden = false;
      document.getElementById("chart").replaceChildren(chart(lastDays(stats.days)));
      document.getElementById("tables").replaceChildren(
        table("By size", "Variant", stats.variants, "variant", describe),
        table("By referrer", "Site", stats.referrers, "host"),
        table("By tier", "Served from", stats.tiers, "tier"));
      document.getElementById("stats").hidden = false;
    } catch (error) {
      const notice = document.getElementById("notice");
      notice.hidden = false;
      if (error.status === 403) {
        notice.textContent = "Only the image's uploaders can see its statistics.";
      } else if (error.status === 401) {
        notice.replaceChildren("The statistics of an image are shown to its uploaders who upload with an API key; " +
          "anonymous uploads have none to show. ", E.el("a", { href: "/me", text: "Sign in on My images" }), ".");
      } else {
        notice.classList.add("error");
        notice.textContent = error.message;
      }
    }
  }
  show();
})();
