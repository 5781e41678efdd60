// The share page's editor, for the image's uploaders only (an API key holding a claim on it, or
// a delete link of it kept in this browser): crop with an aspect, rotate, flip, previewed
// through the proxy's own URLs. Edits are links: nothing is changed on the server and the
// original stays as it was.
//
// Geometry, as the proxy applies it (proxy/pipeline.py STEPS): crop first, in pixels of the
// upright original; then rotate clockwise (rot); then mirror (flop=1 left to right, flip=1 top
// to bottom). The editor shows the turned and mirrored picture and keeps the crop as drawn on it
// ("view" pixels: the original's pixels, turned); toSource turns that rectangle back into the
// original's coordinates that crop= takes. Each control (crop, rotate, flip, text, watermark)
// gives its part of the link: `params`, and of the preview under the crop box: `stageParams`.
"use strict";
const EnlargerEditor = (() => {
  const E = Enlarger;
  const ASPECTS = [["free", "Free", 0], ["1:1", "1:1", 1], ["4:3", "4:3", 4 / 3],
                   ["16:9", "16:9", 16 / 9], ["9:16", "9:16", 9 / 16]];
  const CORNERS = { nw: [-1, -1, "top-left"], ne: [1, -1, "top-right"],
                    sw: [-1, 1, "bottom-left"], se: [1, 1, "bottom-right"] };
  const MARGIN = 16;  // CSS px around the picture, where the corner handles stand out (app.css)
  const DEBOUNCE = 400;  // ms without an edit before the link's picture is asked for
  const KEYS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

  // --- Geometry: rectangles {x, y, w, h} in whole pixels -------------------------------------
  const viewSize = (W, H, rot) => (rot % 180 ? [H, W] : [W, H]);

  // The original's rectangle as it lands in the turned (clockwise rot), mirrored picture.
  function toView(r, W, H, rot, flop) {
    const turned = {
      0: { x: r.x, y: r.y, w: r.w, h: r.h },
      90: { x: H - r.y - r.h, y: r.x, w: r.h, h: r.w },
      180: { x: W - r.x - r.w, y: H - r.y - r.h, w: r.w, h: r.h },
      270: { x: r.y, y: W - r.x - r.w, w: r.h, h: r.w },
    }[rot];
    return flop ? Object.assign(turned, { x: viewSize(W, H, rot)[0] - turned.x - turned.w }) : turned;
  }

  // The inverse: a rectangle of the view in the original's pixels (what crop= takes).
  function toSource(v, W, H, rot, flop) {
    const x = flop ? viewSize(W, H, rot)[0] - v.x - v.w : v.x;
    return {
      0: { x, y: v.y, w: v.w, h: v.h },
      90: { x: v.y, y: H - x - v.w, w: v.h, h: v.w },
      180: { x: W - x - v.w, y: H - v.y - v.h, w: v.w, h: v.h },
      270: { x: W - v.y - v.h, y: x, w: v.h, h: v.w },
    }[rot];
  }

  // The largest rectangle of this aspect (width / height) inside r, centred in it.
  function fitAspect(r, aspect) {
    if (!aspect) return r;
    const w = Math.max(1, Math.round(r.w / r.h > aspect ? r.h * aspect : r.w));
    const h = Math.max(1, Math.round(w / aspect));
    const fh = Math.min(h, r.h), fw = fh === h ? w : Math.max(1, Math.round(fh * aspect));
    return { x: r.x + Math.floor((r.w - fw) / 2), y: r.y + Math.floor((r.h - fh) / 2), w: fw, h: fh };
  }

  const clamp = (v, low, high) => Math.min(high, Math.max(low, v));

  // r moved by (dx, dy) view pixels, kept inside the view.
  function moved(r, dx, dy, VW, VH) {
    return { x: Math.round(clamp(r.x + dx, 0, VW - r.w)), y: Math.round(clamp(r.y + dy, 0, VH - r.h)),
             w: r.w, h: r.h };
  }

  // r with one corner moved by (dx, dy), the opposite one held; at least `least` pixels a side;
  // with an aspect, the side that moved more decides the other.
  function resized(r, corner, dx, dy, VW, VH, aspect) {
    const [sx, sy] = CORNERS[corner];
    const ax = sx > 0 ? r.x : r.x + r.w, ay = sy > 0 ? r.y : r.y + r.h;  // the anchor
    const roomW = sx > 0 ? VW - ax : ax, roomH = sy > 0 ? VH - ay : ay;
    const least = Math.min(16, VW, VH);
    let w = clamp(r.w + sx * dx, least, roomW), h = clamp(r.h + sy * dy, least, roomH);
    if (aspect) {
      if (Math.abs(dx) >= Math.abs(dy) * aspect) h = w / aspect; else w = h * aspect;
      if (w > roomW) { w = roomW; h = w / aspect; }
      if (h > roomH) { h = roomH; w = h * aspect; }
    }
    w = Math.max(1, Math.round(w)); h = Math.max(1, Math.round(h));
    return { x: sx > 0 ? ax : ax - w, y: sy > 0 ? ay : ay - h, w, h };
  }

  // --- Controls: each adds its element to the tools and its parameters to the link ----------
  const controls = [];
  function register(control) { controls.push(control); }

  register({  // crop: the box on the picture, and its aspect here
    mount(ed) {
      const select = E.el("select", { id: "edit-aspect" },
        ...ASPECTS.map(([value, label]) => E.el("option", { value, text: label })));
      select.addEventListener("change", () => {
        ed.state.aspect = ASPECTS.find((a) => a[0] === select.value)[2];
        ed.state.crop = fitAspect(ed.state.crop, ed.state.aspect);
        ed.changed();
      });
      ed.on("reset", () => { select.value = "free"; });
      return E.el("span", { class: "field" }, E.el("label", { for: "edit-aspect", text: "Aspect" }), select);
    },
    params(ed) {
      const [VW, VH] = ed.viewSize();
      const c = ed.state.crop;
      if (c.x === 0 && c.y === 0 && c.w === VW && c.h === VH) return [];
      const s = toSource(c, ed.W, ed.H, ed.state.rot, ed.state.flop);
      return [["crop", [s.x, s.y, s.w, s.h].join(",")]];
    },
  });

  // A change of the view (rot, flop) keeps the cropped region of the picture, turned with it.
  function turn(ed, change) {
    const s = toSource(ed.state.crop, ed.W, ed.H, ed.state.rot, ed.state.flop);
    change(ed.state);
    ed.state.crop = fitAspect(toView(s, ed.W, ed.H, ed.state.rot, ed.state.flop), ed.state.aspect);
    ed.changed(true);
  }

  register({
    mount(ed) {
      return E.el("button", { type: "button", id: "edit-rotate", class: "secondary",
                              text: "Rotate 90°", onclick: () => turn(ed, (s) => { s.rot = (s.rot + 90) % 360; }) });
    },
    params: (ed) => (ed.state.rot ? [["rot", ed.state.rot]] : []),
    stageParams: (ed) => (ed.state.rot ? [["rot", ed.state.rot]] : []),
  });

  register({  // the proxy's flop: left to right (its flip is top to bottom)
    mount(ed) {
      const button = E.el("button", { type: "button", id: "edit-flip", class: "secondary",
                                      "aria-pressed": "false", text: "Flip" });
      button.addEventListener("click", () => turn(ed, (s) => { s.flop = !s.flop; }));
      ed.on("change", () => button.setAttribute("aria-pressed", String(ed.state.flop)));
      return button;
    },
    params: (ed) => (ed.state.flop ? [["flop", 1]] : []),
    stageParams: (ed) => (ed.state.flop ? [["flop", 1]] : []),
  });

  // --- Overlays: a text and another image, drawn on the link's output ---------------------------
  // They land on the cropped, turned output, so the stage (the whole picture under the crop box)
  // does not show them: the link's own picture beside the link does. That picture is the `small`
  // size, the link serves `large`; txt_size and wm_margin are pixels of the output, so the
  // preview asks for them times `ratio` (small / large of the crop) and the text keeps its size
  // relative to the picture (wm_scale is a fraction of the width already). Each overlay says why
  // it is not valid yet (`invalid`): the preview then waits, and the link leaves it out.
  const POSITIONS = [["north-west", "Top left"], ["north", "Top"], ["north-east", "Top right"],
                     ["west", "Left"], ["centre", "Centre"], ["east", "Right"],
                     ["south-west", "Bottom left"], ["south", "Bottom"], ["south-east", "Bottom right"]];
  const TEXT = { size: 32, least: 8, most: 400, chars: 200 };  // proxy/text.py
  const WM = { margin: 16, scale: 0.25 };  // proxy/spec.py WM_SCALE, WM_MARGIN
  const PUBLIC_ID = /^[a-z2-7]{26}$/;  // enlarger/ids.py

  function field(id, label, input) {
    return E.el("span", { class: "field" }, E.el("label", { for: id, text: label }), input);
  }
  function positions(id, chosen) {
    const select = E.el("select", { id }, ...POSITIONS.map(([value, label]) =>
      E.el("option", { value, text: label + " (" + value + ")" })));
    select.value = chosen;
    return select;
  }
  // An opacity in %, 0-100 by 5 (the proxy's steps of 0.05).
  const percent = (id) => E.el("input", { id, type: "number", min: "0", max: "100", step: "5", value: "100",
                                          inputmode: "numeric", class: "number" });
  const opacity = (input) => String(Number(input.value) / 100);
  // Inputs that change the link: at once for the link, debounced for the pictures (update).
  function follow(ed, inputs) {
    for (const input of inputs) input.addEventListener(input.tagName === "SELECT" ? "change" : "input", () => ed.changed());
  }

  register({  // txt: a line of text
    overlay: true,
    mount(ed) {
      const text = E.el("input", { id: "edit-txt", type: "text", maxlength: String(TEXT.chars),
                                   placeholder: "© you", autocomplete: "off" });
      const pos = positions("edit-txt-pos", "south-east");
      const size = E.el("input", { id: "edit-txt-size", type: "number", min: String(TEXT.least),
                                   max: String(TEXT.most), step: "2", value: String(TEXT.size),
                                   inputmode: "numeric", class: "number" });
      const colour = E.el("input", { id: "edit-txt-color", type: "color", value: "#ffffff" });
      const alpha = percent("edit-txt-opacity");
      this.inputs = { text, pos, size, colour, alpha };
      follow(ed, Object.values(this.inputs));
      ed.on("reset", () => { text.value = ""; pos.value = "south-east"; size.value = String(TEXT.size);
                             colour.value = "#ffffff"; alpha.value = "100"; });
      return E.el("fieldset", { class: "overlay" }, E.el("legend", { text: "Text" }),
        field("edit-txt", "Text", text), field("edit-txt-pos", "Position", pos),
        field("edit-txt-size", "Size (px)", size), field("edit-txt-color", "Colour", colour),
        field("edit-txt-opacity", "Opacity (%)", alpha));
    },
    invalid() {
      const { text, size, alpha } = this.inputs;
      if (!text.value.trim()) return "";
      if (!size.checkValidity() || size.value === "") return "the text's size is an even number from " + TEXT.least + " to " + TEXT.most + " px";
      if (!alpha.checkValidity() || alpha.value === "") return "the text's opacity is from 0 to 100 %, by 5";
      return "";
    },
    params(ed, ratio = 1) {
      const { text, pos, size, colour, alpha } = this.inputs;
      if (!text.value.trim() || this.invalid()) return [];
      const px = Math.min(TEXT.most, Math.max(TEXT.least, 2 * Math.round(Number(size.value) * ratio / 2)));
      return [["txt", text.value], ["txt_pos", pos.value], ["txt_size", px],
              ["txt_color", colour.value.replace("#", "")],
              ...(alpha.value === "100" ? [] : [["txt_opacity", opacity(alpha)]])];
    },
  });

  register({  // wm: another hosted image, chosen among this browser's or this user's uploads
    overlay: true,
    mount(ed) {
      const id = E.el("input", { id: "edit-wm", type: "text", pattern: "[a-z2-7]{26}", maxlength: "26",
                                 autocomplete: "off", spellcheck: "false", placeholder: "an image id" });
      const choice = E.el("select", { id: "edit-wm-choice" },
        E.el("option", { value: "", text: "Another image id…" }));
      const pos = positions("edit-wm-pos", "south-east");
      const scale = E.el("input", { id: "edit-wm-scale", type: "number", min: "1", max: "100", step: "1",
                                    value: String(WM.scale * 100), inputmode: "numeric", class: "number" });
      const alpha = percent("edit-wm-opacity");
      this.inputs = { id, pos, scale, alpha };
      follow(ed, Object.values(this.inputs));
      choice.addEventListener("change", () => { id.value = choice.value; ed.changed(); });
      id.addEventListener("input", () => { choice.value = [...choice.options].some((o) => o.value === id.value) ? id.value : ""; });
      ed.on("reset", () => { id.value = ""; choice.value = ""; pos.value = "south-east";
                             scale.value = String(WM.scale * 100); alpha.value = "100"; });
      yours(ed.id).then((images) => choice.append(...images.map(([value, name]) =>
        E.el("option", { value, text: name ? name + " (" + value.slice(0, 6) + "…)" : value }))));
      return E.el("fieldset", { class: "overlay" }, E.el("legend", { text: "Watermark" }),
        field("edit-wm-choice", "Your image", choice), field("edit-wm", "Image id", id),
        field("edit-wm-pos", "Position", pos), field("edit-wm-scale", "Width (%)", scale),
        field("edit-wm-opacity", "Opacity (%)", alpha));
    },
    invalid() {
      const { id, scale, alpha } = this.inputs;
      const value = id.value.trim();
      if (!value) return "";
      if (!PUBLIC_ID.test(value)) return "an image id is 26 letters a-z and digits 2-7 (the /i/<id> of the image)";
      if (!scale.checkValidity() || scale.value === "") return "the watermark's width is 1 to 100 % of the picture's";
      if (!alpha.checkValidity() || alpha.value === "") return "the watermark's opacity is from 0 to 100 %, by 5";
      return "";
    },
    params(ed, ratio = 1) {
      const { id, pos, scale, alpha } = this.inputs;
      if (!id.value.trim() || this.invalid()) return [];
      return [["wm", id.value.trim()], ["wm_pos", pos.value],
              ...(scale.value === String(WM.scale * 100) ? [] : [["wm_scale", String(Number(scale.value) / 100)]]),
              ...(alpha.value === "100" ? [] : [["wm_opacity", opacity(alpha)]]),
              ...(ratio === 1 ? [] : [["wm_margin", Math.round(WM.margin * ratio)]])];
    },
  });

  // The images this browser uploaded (their delete links kept here) and the signed-in user's
  // (the /me page's list) but this one: [id, file name] pairs, newest first, each once.
  async function yours(self) {
    const found = E.anonymousUploads().map((e) => [e.id, E.fileName(e.id)]);
    if (E.apiKey()) {
      try {
        const answer = await E.api("GET", "/v1/me/images?limit=200&sort=uploaded");
        found.push(...answer.images.map((image) => [image.id, image.filename || ""]));
      } catch (_) { /* the anonymous ones only */ }
    }
    const seen = new Set([self]);
    return found.filter(([id]) => PUBLIC_ID.test(id) && !seen.has(id) && seen.add(id));
  }

  // --- The editor -----------------------------------------------------------------------------
  const query = (pairs) => pairs.map(([k, v]) => k + "=" + encodeURIComponent(v).replace(/%2C/g, ",")).join("&");

  function create(image, limits, opener) {
    const listeners = { change: [], reset: [] };
    const ed = {
      id: image.id, W: image.width, H: image.height,
      state: { rot: 0, flop: false, aspect: 0, crop: { x: 0, y: 0, w: image.width, h: image.height } },
      viewSize: () => viewSize(image.width, image.height, ed.state.rot),
      on: (name, fn) => listeners[name].push(fn),
      changed: (view) => update(view),
    };
    const path = E.portableUrl(location.origin + "/i/" + image.id, image.format);
    const link = (ratio = 1, extra = []) => {
      const q = query([...controls.flatMap((c) => c.params(ed, ratio)), ...extra]);
      return q ? path + "?" + q : path;
    };

    const picture = E.el("img", { class: "stage-image", alt: "The picture as the link turns it", draggable: "false" });
    const box = E.el("div", { class: "crop-box" });
    const area = E.el("button", { type: "button", class: "crop-area",
                                  "aria-label": "Crop area: drag it, or move it with the arrow keys" });
    box.append(area, ...Object.entries(CORNERS).map(([name, [, , words]]) =>
      E.el("button", { type: "button", class: "handle " + name, "data-corner": name,
                       "aria-label": "The crop's " + words + " corner: drag it, or move it with the arrow keys" })));
    const shade = E.el("div", { class: "crop-shade" });  // darkens the rest, clipped to the picture
    const stage = E.el("div", { class: "stage" }, picture, E.el("div", { class: "crop-clip" }, shade), box);
    const wrap = E.el("div", { class: "stage-wrap" }, stage);
    const said = E.el("p", { class: "hint", id: "edit-said", "aria-live": "polite" });
    const problem = E.el("p", { class: "notice error", role: "alert", hidden: "" });
    const tools = E.el("div", { class: "edit-tools", role: "group", "aria-label": "Edits" });
    const overlays = E.el("div", { class: "edit-tools edit-overlays" });  // just above the link's picture
    for (const control of controls) {
      const node = control.mount(ed);
      if (node) (control.overlay ? overlays : tools).append(node);
    }
    tools.append(E.el("button", { type: "button", class: "secondary", id: "edit-reset", text: "Reset",
                                  onclick: () => reset() }));
    const result = E.el("img", { class: "edit-result", alt: "The edited link's picture", width: "160", height: "120" });
    const rows = ["Link", "Markdown", "HTML", "BBCode"].map((label) => {
      const id = "edit-" + label.toLowerCase();
      return E.el("div", { class: "copy-row" }, E.el("label", { for: id, text: label }),
        E.el("input", { id, type: "text", readonly: "" }),
        E.el("button", { type: "button", "data-copy": id, "aria-label": "Copy " + label, text: "Copy" }));
    });
    const help = E.el("p", { class: "hint", id: "edit-help",
      text: "Drag the crop box or its corners (or focus them and use the arrow keys; Shift moves further). " +
            "Rotate turns the picture clockwise (rot=90, 180, 270); Flip mirrors it left to right (the " +
            "link's flop=1; flip=1 would turn it upside down). Text and Watermark draw on the link's picture, " +
            "shown beside the link. Edits are links: the original stays as it was." });
    const close = E.el("button", { type: "button", class: "secondary close", "aria-label": "Close the editor", text: "×" });
    const dialog = E.el("dialog", { class: "editor", id: "editor", "aria-labelledby": "editor-title",
                                    "aria-describedby": "edit-help" },
      E.el("div", { class: "editor-head" }, E.el("h2", { id: "editor-title", text: "Edit: a link to a new view" }), close),
      wrap, said, problem, tools, overlays,
      E.el("div", { class: "edit-output" }, result, E.el("div", { class: "edit-links" }, ...rows)), help);
    close.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => opener.focus());
    document.body.append(dialog);

    // The picture's size on screen, and view pixels per CSS pixel.
    let shown = { width: 1, height: 1 };
    const scale = () => ed.viewSize()[0] / shown.width;
    function layout() {
      const [VW, VH] = ed.viewSize();
      const room = wrap.clientWidth - 2 * MARGIN;
      const tall = Math.max(160, Math.round(window.innerHeight * 0.5));
      const s = Math.min(room / VW, tall / VH, 1);
      shown = { width: Math.max(1, Math.floor(VW * s)), height: Math.max(1, Math.floor(VH * s)) };
      stage.style.width = shown.width + "px";
      stage.style.height = shown.height + "px";
      place();
    }
    function place() {
      const c = ed.state.crop, s = scale();
      for (const node of [box, shade]) {
        node.style.left = c.x / s + "px"; node.style.top = c.y / s + "px";
        node.style.width = c.w / s + "px"; node.style.height = c.h / s + "px";
      }
      said.textContent = "Crop: " + c.w + " × " + c.h + " px" + (ed.state.rot ? ", turned " + ed.state.rot + "°" : "") +
        (ed.state.flop ? ", mirrored" : "") + ".";
    }

    let resultTimer = 0, stageUrl = "", wanted = "";
    function update(view) {
      if (view) layout();
      const turns = controls.flatMap((c) => (c.stageParams ? c.stageParams(ed) : []));
      const stageQuery = query([["size", "large"], ["fmt", "auto"], ...turns]);
      if ("/i/" + image.id + "?" + stageQuery !== stageUrl) {
        stageUrl = "/i/" + image.id + "?" + stageQuery;
        picture.classList.add("loading");  // not the last view's picture, stretched
        picture.src = stageUrl;
      }
      place();
      const url = link();
      const c = ed.state.crop, large = limits && limits.sizes && limits.sizes.large;
      const size = large ? E.servedSize(c.w, c.h, large) : null;
      const alt = "image";
      const dimensions = size ? ' width="' + size[0] + '" height="' + size[1] + '"' : "";
      const values = [url, "![" + alt + "](" + url + ")",
        '<img src="' + url + '"' + dimensions + ' alt="' + alt + '">', "[img]" + url + "[/img]"];
      rows.forEach((row, i) => { row.querySelector("input").value = values[i]; });
      listeners.change.forEach((fn) => fn());
      clearTimeout(resultTimer);  // the link's own picture, once the editing pauses and is valid
      const why = controls.map((c) => (c.invalid ? c.invalid(ed) : "")).find(Boolean);
      if (why) { wanted = ""; tell("Not in the link yet: " + why + "."); return; }
      if (problem.dataset.from === "check") problem.hidden = true;
      const small = limits && limits.sizes && limits.sizes.small;
      const ratio = size && small ? E.servedSize(c.w, c.h, small)[0] / size[0] : 1;
      resultTimer = setTimeout(() => showResult(link(ratio, [["size", "small"], ["fmt", "auto"]])), DEBOUNCE);
    }
    function tell(words, from = "check") {
      problem.textContent = words;
      problem.dataset.from = from;
      problem.hidden = false;
    }

    // The link's picture replaces the last one once loaded (never an empty box meanwhile).
    function showResult(src) {
      wanted = src;
      const next = new Image();
      next.addEventListener("load", () => {
        if (wanted !== src) return;
        result.src = src;
        if (problem.dataset.from === "result") problem.hidden = true;
      });
      next.addEventListener("error", (event) => { if (wanted === src) failed(event, "result"); });
      next.src = src;
    }

    function reset() {
      ed.state = { rot: 0, flop: false, aspect: 0, crop: { x: 0, y: 0, w: ed.W, h: ed.H } };
      listeners.reset.forEach((fn) => fn());
      update(true);
    }

    // Why a preview failed, in the API's words (a server that signs its links, a rate limit…).
    async function failed(event, from = "stage") {
      const src = event.target.getAttribute("src");
      if (!src) return;
      let why = "the preview could not be loaded";
      try {
        const answer = await fetch(src, { credentials: "omit" });
        why = E.errorText(answer.status, await answer.text());
      } catch (_) { /* keep the words above */ }
      if (from === "result" && wanted !== src) return;  // edited since: a later preview is on its way
      tell("The preview could not be made: " + why + ".", from);
    }
    picture.addEventListener("error", failed);
    picture.addEventListener("load", () => {
      if (problem.dataset.from === "stage") problem.hidden = true;
      picture.classList.remove("loading");
    });

    // Pointer drags: the area moves the box, a corner resizes it.
    function drag(event) {
      const target = event.currentTarget;
      if (event.button !== 0) return;
      event.preventDefault();
      target.focus();
      target.setPointerCapture(event.pointerId);
      const start = { x: event.clientX, y: event.clientY, crop: ed.state.crop };
      const corner = target.dataset.corner;
      const follow = (e) => {
        const s = scale(), [VW, VH] = ed.viewSize();
        const dx = (e.clientX - start.x) * s, dy = (e.clientY - start.y) * s;
        ed.state.crop = corner ? resized(start.crop, corner, dx, dy, VW, VH, ed.state.aspect)
                               : moved(start.crop, dx, dy, VW, VH);
        place();
      };
      const end = (e) => {
        follow(e);
        target.removeEventListener("pointermove", follow);
        target.removeEventListener("pointerup", end);
        target.removeEventListener("pointercancel", end);
        update(false);
      };
      target.addEventListener("pointermove", follow);
      target.addEventListener("pointerup", end);
      target.addEventListener("pointercancel", end);
    }
    // Arrow keys: 1 % of the picture's width a press, 10 % with Shift.
    function key(event) {
      const step = KEYS[event.key];
      if (!step) return;
      event.preventDefault();
      const [VW, VH] = ed.viewSize();
      const unit = Math.max(1, Math.round(VW / 100)) * (event.shiftKey ? 10 : 1);
      const corner = event.currentTarget.dataset.corner, dx = step[0] * unit, dy = step[1] * unit;
      ed.state.crop = corner ? resized(ed.state.crop, corner, dx, dy, VW, VH, ed.state.aspect)
                             : moved(ed.state.crop, dx, dy, VW, VH);
      update(false);
    }
    for (const part of box.querySelectorAll("button")) {
      part.addEventListener("pointerdown", drag);
      part.addEventListener("keydown", key);
    }
    window.addEventListener("resize", () => { if (dialog.open) layout(); });

    return {
      open() { dialog.showModal(); layout(); update(true); area.focus(); },
    };
  }

  // The Edit button, for those who uploaded the image: a delete link of it kept here, or an API
  // key whose user holds a claim on it (the metadata's created_at is theirs, else null).
  async function start() {
    const frame = document.querySelector(".frame");
    const main = document.getElementById("main");
    if (!frame || !main) return;
    const id = location.pathname.split("/")[2];
    const kept = E.anonymousUploads().some((e) => e.id === id && E.deleteUrls(e).length);
    let image = null;
    if (kept || E.apiKey()) {
      try { image = await E.api("GET", "/v1/images/" + id, kept ? { auth: false } : {}); } catch (_) { image = null; }
    }
    const editable = Boolean(image && image.renderable !== false && (kept || image.created_at));
    main.dataset.editable = String(editable);  // said once decided (the tests wait for it)
    if (!editable) return;
    const button = E.el("button", { type: "button", id: "edit", class: "secondary", "aria-haspopup": "dialog",
                                    text: "Edit" });
    frame.after(E.el("div", { class: "edit-bar" }, button));
    let editor = null;
    button.addEventListener("click", async () => {
      if (!editor) {
        let limits = null;
        try { limits = await E.api("GET", "/v1/limits", { auth: false }); } catch (_) { /* no sizes */ }
        editor = create(image, limits, button);
      }
      editor.open();
    });
  }

  start();
  return { register, toView, toSource, fitAspect, resized, moved };
})();
