// invsync web page: the few rules the page checks before a form is sent (the server
// checks them again), and small conveniences. Everything works without this file.
"use strict";
(function () {
  function setup(root) {
    // A store picker opens the store when changed.
    root.querySelectorAll("select[data-autosubmit]:not([data-ready])").forEach(function (select) {
      select.setAttribute("data-ready", "");
      select.addEventListener("change", function () {
        if (select.form.requestSubmit) { select.form.requestSubmit(); } else { select.form.submit(); }
      });
    });
    var form = root.querySelector("#sync-form");
    if (!form || form.hasAttribute("data-ready")) { return; }
    form.setAttribute("data-ready", "");
    var master = form.getAttribute("data-store-is-master") === "true";
    var price = form.querySelector("#field-price");
    var quantity = form.querySelector("#field-quantity");
    var why = form.querySelector("#field-why");
    var sides = form.querySelectorAll("input[name=update]");
    function side() {
      var checked = form.querySelector("input[name=update]:checked");
      return checked ? checked.value : "store";
    }
    // Which side and fields may go together (product.md rules 1 and 6).
    function rules(changed) {
      var s = side();
      var reasons = [];
      quantity.disabled = false;
      price.disabled = false;
      if (s === "store" && master) {
        quantity.checked = false; quantity.disabled = true;
        reasons.push("Quantity: this store is the master, so its quantity is never overwritten.");
      }
      if (s === "accounting" && !master) {
        quantity.checked = false; quantity.disabled = true;
        price.checked = true;
        reasons.push("Quantity: the accounting side takes quantity only from the master store, and this store is not the master.");
      }
      if (s === "accounting" && price.checked && quantity.checked) {
        // Exactly one field on the accounting side: keep the one just chosen.
        if (changed === price) { quantity.checked = false; } else { price.checked = false; }
      }
      if (s === "accounting") {
        reasons.push("The accounting side is updated one field at a time.");
      }
      // In Orders rows: their quantity is held back; with Quantity alone there is
      // nothing to sync for them.
      var quantityOnly = quantity.checked && !price.checked;
      form.querySelectorAll("input.row[data-in-orders]").forEach(function (box) {
        box.disabled = quantityOnly;
        if (quantityOnly) { box.checked = false; }
      });
      if (quantityOnly && form.querySelector("input.row[data-in-orders]")) {
        reasons.push("In Orders products cannot be selected for Quantity alone: their quantity waits until the orders are posted.");
      }
      why.textContent = reasons.join(" ");
    }
    sides.forEach(function (r) { r.addEventListener("change", function () { rules(r); }); });
    [price, quantity].forEach(function (c) { c.addEventListener("change", function () { rules(c); }); });
    rules(null);
    // One checkbox for every syncable row on this page.
    var all = form.querySelector("#select-page");
    if (all) {
      all.hidden = false;
      all.addEventListener("change", function () {
        form.querySelectorAll("input.row").forEach(function (box) {
          if (!box.disabled) { box.checked = all.checked; }
        });
      });
    }
  }
  document.addEventListener("DOMContentLoaded", function () { setup(document); });
  // htmx swaps the body on boosted navigation: set up the new content.
  document.addEventListener("htmx:load", function (e) { setup(e.target); });
})();
