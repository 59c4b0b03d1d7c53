/* Make the Jupyter widgets of the built book work offline.
 * Loaded after RequireJS and before @jupyter-widgets/html-manager's embed-amd.js (see _config.yml).
 * 1. The widget manager finds its icon fonts relative to its AMD module's URL, which RequireJS would
 *    otherwise place next to each page: point that module at the copy in _static/vendor/html-manager/.
 * 2. The widget manager typesets labels with the MathJax 2 API (MathJax.Hub.Queue), while the book loads
 *    MathJax 3: map that call onto MathJax 3's typesetPromise.
 */
(function () {
  var root = document.documentElement.getAttribute("data-content_root") || "./";
  if (window.require && window.require.config) {
    window.require.config({
      paths: { "@jupyter-widgets/html-manager/dist": root + "_static/vendor/html-manager" },
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
