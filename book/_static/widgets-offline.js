/* Make the Jupyter widgets of the built book work offline.
 * Loaded after RequireJS and before @jupyter-widgets/html-manager's embed-amd.js (see _config.yml).
 * 1. The widget manager finds its icon fonts relative to its AMD modules' URLs, which RequireJS would
 *    otherwise place next to each page: point those modules at the copy in _static/vendor/html-manager/.
 *    Widgets from other packages are looked up the same way before any CDN: anywidget's front end is
 *    served from _static/vendor/anywidget/ (and the CDN is set to a local, missing folder in _config.yml).
 * 2. The widget manager typesets labels with the MathJax 2 API (MathJax.Hub.Queue), while the book loads
 *    MathJax 3: map that call onto MathJax 3's typesetPromise.
 */
(function () {
  var root = document.documentElement.getAttribute("data-content_root") || "./";
  var manager = root + "_static/vendor/html-manager";
  if (window.require && window.require.config) {
    window.require.config({
      paths: {
        // modules bundled in embed-amd.js: only their URL (hence their fonts' URL) changes
        "@jupyter-widgets/html-manager/dist": manager,
        "@jupyter-widgets/html-manager": manager + "/html-manager",
        "@jupyter-widgets/base": manager + "/base",
        "@jupyter-widgets/controls": manager + "/controls",
        "@jupyter-widgets/base7": manager + "/base7",
        "@jupyter-widgets/controls7": manager + "/controls7",
        // anywidget's front end (copied from the installed Python package), instead of a CDN
        anywidget: root + "_static/vendor/anywidget/index",
      },
    });
  }
  function installMathJax2Shim() {
    var mj = window.MathJax;
    if (!mj || mj.Hub) return;
    mj.Hub = {
      Queue: function (job) {
        var el = Array.isArray(job) ? job[2] : undefined;
        var ready = mj.startup && mj.startup.promise ? mj.startup.promise : Promise.resolve();
        return ready
          .then(function () { return mj.typesetPromise ? mj.typesetPromise(el ? [el] : undefined) : null; })
          .catch(function (err) { console.warn("MathJax typeset of a widget label failed", err); });
      },
    };
  }
  installMathJax2Shim();
  document.addEventListener("DOMContentLoaded", installMathJax2Shim);
})();
