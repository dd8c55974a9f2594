// The "paste your traceback" box: a pasted traceback leads to its troubleshooting entry and
// the chapters that reproduce it. Static and client-side: nothing leaves the page.
//
// Its patterns (window.TROUBLESHOOTING_ROUTES) are generated at build time from
// book/troubleshooting.md by booktools.paste_box (see booktools/troubleshooting.py):
// each entry's message, `…` a wildcard, plus the forms the page declares with `% paste:`.
//
// How a paste is read: the last error line (with the lines that continue it; a warning only
// if no error line is there) is matched first; the most specific message wins (the most literal characters), then the entry with
// the most of its `% paste-context:` text present anywhere in the paste, then page order.
// Only when no entry matches that line is the whole paste scanned, on the same terms.
// White space counts as one space, so wrapped lines and indentation do not matter.
(function () {
  "use strict";

  const script = document.currentScript;
  // The site's root: this file is <root>/_static/paste-traceback.js.
  const ROOT = script ? script.src.replace(/_static\/paste-traceback\.js(\?.*)?$/, "") : "";
  const NOT_CONTINUATION = /^(File "|Traceback \(|During handling|The above exception|\[`.*` exited with status|\[\.\.\. \d+ )/;

  function normalize(text) {
    return text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").split(/\s+/).filter(Boolean).join(" ");
  }

  function compile(routes) {
    return {
      exceptionLine: new RegExp(routes.exceptionLine),
      warningLine: new RegExp(routes.warningLine),
      entries: routes.entries.map((entry, order) => ({
        ...entry,
        order,
        patterns: entry.patterns.map((p) => ({ regex: new RegExp(p.regex), specificity: p.specificity })),
        context: entry.context.map((c) => new RegExp(c)),
      })),
    };
  }

  // Each error line of the paste with the lines that continue it (a message on several
  // lines, pytest's `E   ` lines, a `[SQL: ...]` line), in paste order.
  function errorBlocks(paste, exceptionLine) {
    const lines = paste.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").split(/\r?\n/).map((l) => l.replace(/^[\s|]+/, "").trimEnd());
    const blocks = [];
    lines.forEach((line, i) => {
      if (!exceptionLine.test(line)) return;
      const block = [line];
      for (let j = i + 1; j < lines.length && block.length < 40; j++) {
        const next = lines[j];
        if (!next || NOT_CONTINUATION.test(next) || exceptionLine.test(next)) break;
        block.push(next);
      }
      blocks.push({ line, text: normalize(block.join("\n")) });
    });
    return blocks;
  }

  function ranked(compiled, text, whole) {
    const found = [];
    for (const entry of compiled.entries) {
      let specificity = -1;
      for (const p of entry.patterns) {
        if (p.specificity > specificity && p.regex.test(text)) specificity = p.specificity;
      }
      if (specificity < 0) continue;
      const context = entry.context.filter((c) => c.test(whole)).length;
      found.push({ entry, specificity, context });
    }
    return found.sort((a, b) => b.specificity - a.specificity || b.context - a.context || a.entry.order - b.entry.order);
  }

  // The entry a paste leads to: {entry, others, line} (entry null when none matches).
  function route(compiled, paste) {
    const whole = normalize(paste);
    const blocks = errorBlocks(paste, compiled.exceptionLine);
    // The last error, not a warning Python prints as it exits, after the traceback (3.12+:
    // `sys:1: RuntimeWarning: coroutine ... was never awaited`); a warning alone counts.
    const errors = blocks.filter((b) => !compiled.warningLine.test(b.line));
    const last = errors.length ? errors[errors.length - 1] : blocks.length ? blocks[blocks.length - 1] : null;
    let found = last ? ranked(compiled, last.text, whole) : [];
    if (!found.length) found = ranked(compiled, whole, whole);
    const line = last ? last.line : (paste.trim().split(/\r?\n/).pop() || "").trim();
    if (!found.length) return { entry: null, others: [], line };
    const best = found[0];
    // Other entries for the very same message: the frames above it may point to one of them.
    const others = found.slice(1).filter((f) => f.specificity === best.specificity).map((f) => f.entry);
    return { entry: best.entry, others, line };
  }

  function link(href, text, className) {
    const a = document.createElement("a");
    a.href = ROOT + href;
    a.textContent = text;
    if (className) a.className = className;
    return a;
  }

  function paragraph(...parts) {
    const p = document.createElement("p");
    for (const part of parts) p.append(part);
    return p;
  }

  function show(result, answer) {
    result.replaceChildren();
    result.hidden = false;
    const { entry } = answer;
    result.dataset.entry = entry ? entry.label : "";
    result.dataset.chapters = entry ? entry.chapters.map((c) => c.href).join(" ") : "";
    if (!entry) {
      const search = link(`search.html?q=${encodeURIComponent(answer.line)}`, "search the book for it", "paste-traceback-search");
      const code = document.createElement("code");
      code.textContent = answer.line;
      result.append(paragraph("No entry of the troubleshooting page matches ", code, ". You can ", search, "."));
      return;
    }
    result.append(paragraph("Your error: ", link(entry.href, entry.title, "paste-traceback-entry")));
    if (entry.chapters.length) {
      // The entry's first chapter by its title, any others as "ch. N" (the title on hover).
      const [first, ...more] = entry.chapters;
      const chapters = paragraph("Reproduced in: ", link(first.href, `Chapter ${first.number}: ${first.title}`, "paste-traceback-chapter"));
      if (more.length) chapters.append("; also");
      for (const chapter of more) {
        const a = link(chapter.href, `ch. ${chapter.number}`, "paste-traceback-chapter");
        a.title = chapter.title;
        chapters.append(" ", a);
      }
      result.append(chapters);
    }
    if (answer.others.length) {
      const others = paragraph("The same message has other causes: ");
      answer.others.forEach((other, i) => {
        if (i) others.append(" · ");
        others.append(link(other.href, other.title, "paste-traceback-other"));
      });
      result.append(others);
    }
  }

  function attach(form, compiled) {
    const input = form.querySelector("textarea");
    const result = form.querySelector(".paste-traceback-result");
    let answer = null;
    const update = () => {
      if (!input.value.trim()) {
        answer = null;
        result.hidden = true;
        result.replaceChildren();
        return;
      }
      answer = route(compiled, input.value);
      show(result, answer);
    };
    input.addEventListener("input", update);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      update();
      if (answer && answer.entry) window.location.href = ROOT + answer.entry.href;
    });
    // Ctrl/Cmd + Enter in the box goes to the entry, as the button does.
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
    });
  }

  function start() {
    if (!window.TROUBLESHOOTING_ROUTES) return;
    const compiled = compile(window.TROUBLESHOOTING_ROUTES);
    // For the browser test and the curious: route(text) from the console.
    window.pasteTraceback = { route: (text) => route(compiled, text) };
    document.querySelectorAll("form[data-paste-traceback]").forEach((form) => attach(form, compiled));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
