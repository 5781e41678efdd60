// Statistics of one image: views per day as an SVG bar chart drawn here (no charting library),
// and the breakdowns of the stats API (size, referrer, tier). Sends the API key when one is kept.
"use strict";
(() => {
  const E = Enlarger;
  const SVG = "http://www.w3.org/2000/svg";
  const DAYS = 30;
  const id = location.pathname.split("/")[2];

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
    root.append(svg("title", { id: "chart-desc" }, total + " views in the last " + days.length + " days"));
    for (const fraction of [0, 0.5, 1]) {
      const y = H - bottom - fraction * (H - bottom - top);
      root.append(svg("line", { x1: left, x2: W - 10, y1: y, y2: y }));
      root.append(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, String(Math.round(max * fraction))));
    }
    days.forEach((d, i) => {
      const h = (d.views / max) * (H - bottom - top);
      const bar = svg("rect", { class: "bar-rect", x: left + i * step + 1, y: H - bottom - h,
        width: Math.max(1, step - 2), height: h });
      bar.append(svg("title", {}, d.day + ": " + d.views + " views"));
      root.append(bar);
      if ((days.length - 1 - i) % 7 === 0) {  // every week, counted back from today
        root.append(svg("text", { x: left + i * step + step / 2, y: H - 8, "text-anchor": "middle" }, d.day.slice(5)));
      }
    });
    return root;
  }

  function table(title, column, rows, key) {
    const body = rows.length ? rows.map((r) => E.el("tr", {},
      E.el("td", { text: r[key] === null ? "(none)" : String(r[key]) }),
      E.el("td", { class: "num", text: String(r.views) }))) : [E.el("tr", {}, E.el("td", { colspan: "2", text: "No views yet" }))];
    return E.el("section", {}, E.el("h2", { text: title }),
      E.el("table", {}, E.el("thead", {}, E.el("tr", {}, E.el("th", { scope: "col", text: column }),
        E.el("th", { scope: "col", class: "num", text: "Views" }))), E.el("tbody", {}, ...body)));
  }

  async function show() {
    document.getElementById("back").href = "/p/" + id;
    try {
      const stats = await E.api("GET", "/v1/images/" + id + "/stats");
      document.getElementById("total").textContent = stats.views + " views in all";
      document.getElementById("chart").replaceChildren(chart(lastDays(stats.days)));
      document.getElementById("tables").replaceChildren(
        table("By size", "Variant", stats.variants, "variant"),
        table("By referrer", "Site", stats.referrers, "host"),
        table("By tier", "Served from", stats.tiers, "tier"));
    } catch (error) {
      const notice = document.getElementById("notice");
      notice.hidden = false;
      notice.textContent = error.status === 401 ? "Sign in on My images to see the statistics of your images." : error.message;
    }
  }
  show();
})();
