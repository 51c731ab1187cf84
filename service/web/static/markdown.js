// A small Markdown renderer for CDS Hooks card details, safe by construction: it builds DOM nodes
// and sets only textContent, so no HTML in a card (or in a record quoted by a card) can ever become
// markup. It covers what cards use: paragraphs, bullet lists, pipe tables, **strong**, *emphasis*,
// `code`, backslash escapes and [links](https://...). A link to anything but http(s) is shown as
// struck-through text, never as a link. Links open in a new tab without an opener.
"use strict";

(function () {
  const PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

  // Index of the next unescaped `delim` at or after `from`, or -1.
  function findClose(text, delim, from) {
    for (let i = from; i <= text.length - delim.length; i++) {
      if (text[i] === "\\") { i++; continue; }
      if (text.startsWith(delim, i)) return i;
    }
    return -1;
  }

  function safeHref(url) {
    const trimmed = url.trim();
    return /^https?:\/\/[^\s]+$/i.test(trimmed) ? trimmed : null;
  }

  function inline(text, parent) {
    let buffer = "";
    const flush = () => { if (buffer) { parent.appendChild(document.createTextNode(buffer)); buffer = ""; } };
    let i = 0;
    while (i < text.length) {
      const c = text[i];
      if (c === "\\" && i + 1 < text.length && PUNCT.includes(text[i + 1])) {
        buffer += text[i + 1]; i += 2; continue;
      }
      if (c === "`") {
        const end = findClose(text, "`", i + 1);
        if (end > i) { flush(); const code = document.createElement("code"); code.textContent = text.slice(i + 1, end); parent.appendChild(code); i = end + 1; continue; }
      }
      if (text.startsWith("**", i)) {
        const end = findClose(text, "**", i + 2);
        if (end > i + 2) { flush(); const strong = document.createElement("strong"); inline(text.slice(i + 2, end), strong); parent.appendChild(strong); i = end + 2; continue; }
      }
      if ((c === "*" || (c === "_" && (i === 0 || /\s/.test(text[i - 1])))) && text[i + 1] !== " ") {
        const end = findClose(text, c, i + 1);
        if (end > i + 1) { flush(); const em = document.createElement("em"); inline(text.slice(i + 1, end), em); parent.appendChild(em); i = end + 1; continue; }
      }
      if (c === "[") {
        const close = findClose(text, "]", i + 1);
        if (close > i && text[close + 1] === "(") {
          const end = findClose(text, ")", close + 2);
          if (end > close) {
            flush();
            const href = safeHref(text.slice(close + 2, end));
            if (href) {
              const a = document.createElement("a");
              a.href = href; a.target = "_blank"; a.rel = "noopener noreferrer";
              inline(text.slice(i + 1, close), a);
              parent.appendChild(a);
            } else {
              const span = document.createElement("span");
              span.className = "blocked"; span.title = "link removed: only http(s) links are followed";
              inline(text.slice(i + 1, close), span);
              parent.appendChild(span);
            }
            i = end + 1; continue;
          }
        }
      }
      buffer += c; i++;
    }
    flush();
  }

  // Split a table row on unescaped pipes, dropping the outer ones.
  function cells(line) {
    const out = []; let cell = "";
    const body = line.trim().replace(/^\|/, "").replace(/\|$/, "");
    for (let i = 0; i < body.length; i++) {
      if (body[i] === "\\" && i + 1 < body.length) { cell += body[i] + body[i + 1]; i++; continue; }
      if (body[i] === "|") { out.push(cell.trim()); cell = ""; continue; }
      cell += body[i];
    }
    out.push(cell.trim());
    return out;
  }

  function render(markdown) {
    const root = document.createDocumentFragment();
    const lines = String(markdown).replace(/\r\n?/g, "\n").split("\n");
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (!line.trim()) { i++; continue; }
      if (/^\s*[-*] /.test(line)) {
        const ul = document.createElement("ul");
        while (i < lines.length && /^\s*[-*] /.test(lines[i])) {
          const li = document.createElement("li"); inline(lines[i].replace(/^\s*[-*] /, ""), li); ul.appendChild(li); i++;
        }
        root.appendChild(ul); continue;
      }
      if (/^\s*\|/.test(line) && i + 1 < lines.length && /^\s*\|[\s:|-]+\|?\s*$/.test(lines[i + 1])) {
        const table = document.createElement("table");
        const head = table.createTHead().insertRow();
        for (const text of cells(line)) { const th = document.createElement("th"); inline(text, th); head.appendChild(th); }
        const body = table.createTBody();
        i += 2;
        while (i < lines.length && /^\s*\|/.test(lines[i])) {
          const row = body.insertRow();
          for (const text of cells(lines[i])) inline(text, row.insertCell());
          i++;
        }
        root.appendChild(table); continue;
      }
      const p = document.createElement("p");
      const para = [line.trim()];
      i++;
      while (i < lines.length && lines[i].trim() && !/^\s*[-*] /.test(lines[i]) && !/^\s*\|/.test(lines[i])) { para.push(lines[i].trim()); i++; }
      inline(para.join(" "), p);
      root.appendChild(p);
    }
    return root;
  }

  window.SafeMarkdown = { render };
})();
