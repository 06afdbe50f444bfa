// pixelmill dashboard: progressive enhancement only. Every page and form
// works without this script; with it, pages can refresh themselves ("Live"),
// "select all" works, and the plugin forms show one plugin's fields at a time.
(function () {
  "use strict";

  var LIVE_KEY = "pixelmill.live";
  var LIVE_MS = 3000;
  var timer = null;

  function selectionBoxes(form) {
    return Array.prototype.filter.call(form.querySelectorAll('input[type="checkbox"]'), function (box) {
      return !box.hasAttribute("data-select-all") && (box.name === "id" || box.name === "original");
    });
  }

  // Buttons that act on a selection are enabled only with one, and a line says how many.
  function updateSelection(form) {
    if (!form) return;
    var boxes = selectionBoxes(form);
    if (!boxes.length && !form.querySelector("[data-needs-selection]")) return;
    var picked = boxes.filter(function (b) { return b.checked; }).length;
    form.querySelectorAll("[data-needs-selection]").forEach(function (button) { button.disabled = picked === 0; });
    form.querySelectorAll("[data-selected-count]").forEach(function (line) {
      line.textContent = picked === 0 ? "none selected" : picked + " selected";
    });
    var all = form.querySelector("[data-select-all]");
    if (all) {
      var enabled = boxes.filter(function (b) { return !b.disabled; });
      all.checked = enabled.length > 0 && picked === enabled.length;
      all.indeterminate = picked > 0 && picked < enabled.length;
    }
  }

  // Only the chosen plugin's fieldset is shown and sent.
  function updatePluginFields(select) {
    var form = select.form;
    if (!form) return;
    form.querySelectorAll("fieldset[data-plugin]").forEach(function (set) {
      var on = set.getAttribute("data-plugin") === select.value;
      set.hidden = !on;
      set.disabled = !on;
    });
  }

  // A preset runs its own plugin: show that plugin's inputs, for overrides.
  function choosePresetPlugin(select) {
    var option = select.selectedOptions[0];
    var plugins = select.form.querySelector("select[data-plugin-select]");
    if (!option || !plugins || !option.getAttribute("data-plugin")) return;
    plugins.value = option.getAttribute("data-plugin");
    updatePluginFields(plugins);
  }

  function enhance(root) {
    root.querySelectorAll("form").forEach(updateSelection);
    root.querySelectorAll("select[data-plugin-select]").forEach(updatePluginFields);
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-select-all]")) {
      selectionBoxes(target.form).forEach(function (box) { if (!box.disabled) box.checked = target.checked; });
    }
    if (target.matches("select[data-plugin-select]")) updatePluginFields(target);
    if (target.matches("select[data-preset-select]")) choosePresetPlugin(target);
    if (target.form) updateSelection(target.form);
  });

  // Live: reload the page's content every few seconds, unless the user is in
  // the middle of something (a selection, a focused field, an open form).
  function busy() {
    if (document.hidden) return true;
    var main = document.getElementById("main");
    if (!main) return true;
    if (main.querySelector('input[type="checkbox"]:checked')) return true;
    if (main.querySelector("details[open]")) return true;
    var active = document.activeElement;
    return !!(active && main.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName));
  }

  function refresh() {
    if (busy()) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html || busy()) return;
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        var main = document.getElementById("main");
        if (!next || !main || next.innerHTML === main.innerHTML) return;
        main.innerHTML = next.innerHTML;
        enhance(main);
      })
      .catch(function () { /* offline for a moment: try again at the next tick */ });
  }

  function setLive(on, toggle) {
    if (timer) { clearInterval(timer); timer = null; }
    if (on) timer = setInterval(refresh, LIVE_MS);
    if (toggle) {
      toggle.checked = on;
      toggle.closest(".live").classList.toggle("on", on);
    }
    try { localStorage.setItem(LIVE_KEY, on ? "1" : "0"); } catch (e) { /* storage may be off */ }
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
    var toggle = document.getElementById("live-toggle");
    if (toggle) {
      toggle.closest(".live").hidden = false;
      var saved = null;
      try { saved = localStorage.getItem(LIVE_KEY); } catch (e) { saved = null; }
      setLive(saved === "1", toggle);
      toggle.addEventListener("change", function () { setLive(toggle.checked, toggle); });
    }
  });
})();
