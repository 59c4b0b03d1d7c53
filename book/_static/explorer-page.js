// Mounts the offline attention explorer in the element with data-explorer="DIR/": loads
// DIR/explorer_data.js (the maps) and DIR/explorer.js (the widget's own front end), so
// that a page per model needs only that element and this script.
(function () {
  function load(src) {
    return new Promise(function (resolve, reject) {
      const s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = function () { reject(new Error(src)); };
      document.head.appendChild(s);
    });
  }
  const div = document.querySelector("[data-explorer]");
  if (!div) return;
  const dir = div.getAttribute("data-explorer");
  load(dir + "explorer_data.js")
    .then(function () { return load(dir + "explorer.js"); })
    .then(function () { window.VitExplorer.mount(div, window.VIT_EXPLORER_DATA); })
    .catch(function (e) {
      div.textContent = "The explorer's files are missing (" + e.message +
        "): build them with make explorer.";
    });
})();
