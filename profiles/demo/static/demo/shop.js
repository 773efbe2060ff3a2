/* The demo shop: its buttons send events through hub.js, which drops any the visitor has not agreed to.
 * Calls made before hub.js has loaded go to the stub queue and are replayed by hub.js. */
(function () {
  "use strict";

  var METHODS = ["track", "identify", "page", "openPreferences"];
  var stub = (window.hub = window.hub || []);
  METHODS.forEach(function (method) {
    if (typeof stub[method] !== "function") {
      stub[method] = function () { stub.push([method].concat(Array.prototype.slice.call(arguments))); };
    }
  });

  // hub.js replaces window.hub when it loads: always call through window.hub
  function hub(method) {
    var args = Array.prototype.slice.call(arguments, 1);
    return window.hub[method].apply(window.hub, args);
  }

  var cart = [];
  var ACTIONS = {
    view: { event: "Product Viewed", purposes: ["analytics", "personalization", "advertising"], verb: "Viewed" },
    add: { event: "Product Added", purposes: ["analytics", "personalization"], verb: "Added to cart:" }
  };

  function product(button) {
    return {
      sku: button.getAttribute("data-sku"),
      name: button.getAttribute("data-name"),
      category: button.getAttribute("data-category"),
      price: Number(button.getAttribute("data-price"))
    };
  }

  function say(id, text) {
    var node = document.getElementById(id);
    if (node) node.textContent = text;
  }

  // What happened to an event, per purpose, as far as this page can tell.
  function outcome(purposes) {
    if (typeof window.hub.consented !== "function") return "queued until the banner has loaded";
    var sent = purposes.filter(function (p) { return window.hub.consented(p); });
    var dropped = purposes.filter(function (p) { return sent.indexOf(p) < 0; });
    return (sent.length ? "sent for " + sent.join(", ") : "sent for nothing") +
      (dropped.length ? "; not sent for " + dropped.join(", ") + " (no consent)" : "");
  }

  function onProductAction(button) {
    var action = ACTIONS[button.getAttribute("data-shop-action")];
    var item = product(button);
    action.purposes.forEach(function (purpose) {
      var properties = { sku: item.sku, name: item.name, category: item.category, price: item.price };
      if (action === ACTIONS.add) properties.quantity = 1;
      hub("track", action.event, properties, { purpose: purpose });
    });
    if (action === ACTIONS.add) {
      cart.push(item);
      renderCart();
    }
    say("shop-activity", action.verb + " " + item.name + " — " + outcome(action.purposes) + ".");
  }

  function renderCart() {
    var total = cart.reduce(function (sum, item) { return sum + item.price; }, 0);
    say("cart-count", String(cart.length));
    say("cart-total", total.toFixed(2));
  }

  function onCheckout() {
    if (!cart.length) {
      say("shop-activity", "Your cart is empty.");
      return;
    }
    var total = cart.reduce(function (sum, item) { return sum + item.price; }, 0);
    hub("track", "Order Completed", { revenue: Math.round(total * 100) / 100, products: cart.length }, { purpose: "analytics" });
    say("shop-activity", "Order placed (a pretend one) — " + outcome(["analytics"]) + ".");
    cart = [];
    renderCart();
  }

  // The shop's backend signed the demo customer's id into the page (a real site does so after its
  // own sign-in): identify links this device, and the choices made in the banner, to that person.
  function onSignIn(button) {
    var user = button.getAttribute("data-user");
    var sent = hub("identify", user, {}, { purpose: "essential", signature: button.getAttribute("data-signature") });
    say("demo-account-state", sent === false ? "Could not sign in." : "Signed in as " + user + ".");
    if (typeof window.hub.flush === "function") window.hub.flush();
  }

  function describeChoices() {
    var decisions = typeof window.hub.decisions === "function" ? window.hub.decisions() : null;
    if (!decisions) {
      say("consent-state", "You have not made a choice yet: only essential processing happens.");
      return;
    }
    var keys = Object.keys(decisions);
    var on = keys.filter(function (k) { return decisions[k]; });
    var off = keys.filter(function (k) { return !decisions[k]; });
    say("consent-state", "Your choices — allowed: " + (on.join(", ") || "none") + "; refused: " + (off.join(", ") || "none") + ".");
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    var button = target && target.closest("[data-shop-action]");
    if (button) {
      var action = button.getAttribute("data-shop-action");
      if (action === "checkout") onCheckout();
      else if (action === "sign-in") onSignIn(button);
      else onProductAction(button);
      return;
    }
    var settings = target && target.closest("[data-hub-preferences]");
    if (settings) {
      event.preventDefault(); // without JavaScript the link leads to the portal instead
      hub("openPreferences");
    }
  });
  window.addEventListener("hub:ready", describeChoices);
  window.addEventListener("hub:consent", describeChoices);
  // the held embed: hub.js says when it loaded it (the tags mark the page themselves)
  window.addEventListener("hub:tag", function (event) {
    if (event.detail && event.detail.outcome === "frame") say("tag-embed-state", "loaded");
  });

  if (typeof window.hub.decisions === "function") describeChoices(); // hub.js was quicker than this file
  hub("page");
})();
