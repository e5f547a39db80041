// Framebroker pages. One small same-origin script, no dependencies.
// Tokens arrive in the URL fragment (#token=…), which browsers never send
// to a server; the page takes them out of the address bar at once and posts
// them to the JSON API only when the person clicks.
(function () {
  "use strict";
  var SESSION = "fb_session"; // sessionStorage: this tab's session token
  var INVITE = "fb_invitation"; // sessionStorage: an invitation token kept across sign-in

  function $(sel) { return document.querySelector(sel); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  // fragment reads #a=b&c=d and removes it from the address bar and history.
  function fragment() {
    var p = new URLSearchParams(location.hash.replace(/^#/, ""));
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
    return p;
  }

  function status(text, kind) {
    var s = $("#status");
    s.textContent = text;
    s.className = kind || "";
    s.focus();
  }

  function session() { return sessionStorage.getItem(SESSION) || ""; }
  function setSession(tok) { if (tok) sessionStorage.setItem(SESSION, tok); else sessionStorage.removeItem(SESSION); }

  // api calls the JSON API; it resolves to {ok, status, data} and never
  // throws for an HTTP error (a network error becomes status 0).
  function api(method, path, body, token) {
    var headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers["Authorization"] = "Bearer " + token;
    return fetch(path, {
      method: method, headers: headers, credentials: "omit", cache: "no-store",
      body: body === undefined ? undefined : (typeof body === "string" ? body : JSON.stringify(body))
    }).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        return { ok: r.ok, status: r.status, data: data };
      });
    }, function () {
      return { ok: false, status: 0, data: { detail: "The server could not be reached. Check your connection and try again." } };
    });
  }

  // explain turns a problem+json reply into one sentence for a person.
  function explain(res) {
    var d = res.data || {};
    var text = d.detail || d.title || ("The server answered " + res.status + ".");
    if (d.errors && d.errors.length) {
      text += " (" + d.errors.map(function (e) { return e.field + ": " + e.detail; }).join("; ") + ")";
    }
    if (d.request_id && res.status >= 500) text += " Reference: " + d.request_id + ".";
    return text;
  }

  // factor reads the optional second factor: six digits are a TOTP code,
  // anything else a recovery code.
  function factor(body) {
    var f = $("#factor");
    var v = f ? f.value.trim() : "";
    if (/^\d{6}$/.test(v)) body.totp = v;
    else if (v) body.recovery_code = v;
    return body;
  }

  // needsFactor recognises identity's typed refusal, not its wording.
  var factorType = "https://framebroker.dev/problems/second-factor-required";
  function needsFactor(res) {
    return res.status === 401 && !!res.data && res.data.type === factorType;
  }

  function busy(form, on) {
    var bs = form.querySelectorAll("button");
    for (var i = 0; i < bs.length; i++) bs[i].disabled = on;
  }

  // when shows the parts of the page for a state (token | no-token | done).
  function when(state) {
    var all = document.querySelectorAll("[data-when]");
    for (var i = 0; i < all.length; i++) all[i].hidden = all[i].getAttribute("data-when") !== state;
  }

  function onSubmit(form, fn) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      busy(form, true);
      Promise.resolve(fn()).then(function () { busy(form, false); }, function (e) {
        busy(form, false);
        status(String(e), "bad");
      });
    });
  }

  function onClick(btn, fn) {
    btn.addEventListener("click", function () {
      btn.disabled = true;
      Promise.resolve(fn()).then(function () { btn.disabled = false; }, function (e) {
        btn.disabled = false;
        status(String(e), "bad");
      });
    });
  }

  // signedIn keeps a session and says so.
  function signedIn(res, text) {
    setSession(res.data.token);
    when("done");
    status(text + " You are signed in as " + res.data.user.email + ".", "good");
  }

  // safeNext is a same-origin path to go to after signing in.
  function safeNext() {
    var n = new URLSearchParams(location.search).get("next") || "";
    return /^\/[A-Za-z0-9\-\/]*$/.test(n) && n.indexOf("//") < 0 ? n : "/sessions";
  }

  var pages = {};

  pages["verify-email"] = function () {
    var tok = fragment().get("token");
    when(tok ? "token" : "no-token");
    if (!tok) return;
    onClick($("#go"), function () {
      return api("POST", "/v1/auth/verify-email", { token: tok }).then(function (res) {
        if (!res.ok) return status("This link did not work: " + explain(res), "bad");
        when("done");
        status("Your email address " + res.data.user.email + " is verified.", "good");
      });
    });
  };

  pages["reset-password"] = function () {
    var tok = fragment().get("token");
    when(tok ? "token" : "no-token");
    onSubmit($("#reset-form"), function () {
      var body = factor({ token: tok, password: $("#password").value });
      return api("POST", "/v1/auth/password-reset/confirm", body).then(function (res) {
        if (needsFactor(res)) { $("#factor-box").open = true; $("#factor").focus(); return status("Enter your two-factor code to finish.", "bad"); }
        if (!res.ok) return status("Your password was not changed: " + explain(res), "bad");
        signedIn(res, "Your password is changed and every other session is signed out.");
      });
    });
    onSubmit($("#request-form"), function () {
      return api("POST", "/v1/auth/password-reset", { email: $("#email").value }).then(function (res) {
        if (!res.ok) return status(explain(res), "bad");
        status("If that address has an account, a reset link is on its way. It works once, for 30 minutes.", "good");
      });
    });
  };

  pages["magic-link"] = function () {
    var tok = fragment().get("token");
    when(tok ? "token" : "no-token");
    onSubmit($("#confirm-form"), function () {
      return api("POST", "/v1/auth/magic-link/confirm", factor({ token: tok })).then(function (res) {
        if (needsFactor(res)) { $("#factor-box").open = true; $("#factor").focus(); return status("Enter your two-factor code to finish.", "bad"); }
        if (!res.ok) return status("This sign-in link did not work: " + explain(res), "bad");
        signedIn(res, "Welcome back.");
      });
    });
    onSubmit($("#request-form"), function () {
      return api("POST", "/v1/auth/magic-link", { email: $("#email").value }).then(function (res) {
        if (!res.ok) return status(explain(res), "bad");
        status("If that address has an account, a sign-in link is on its way. It works once, for 30 minutes.", "good");
      });
    });
  };

  pages["accept-invitation"] = function () {
    var tok = fragment().get("token");
    if (tok) sessionStorage.setItem(INVITE, tok); // survives the sign-in detour
    tok = tok || sessionStorage.getItem(INVITE);
    when(tok ? "token" : "no-token");
    if (!tok) return;
    var signin = function () {
      $("#signin-link").href = "/login?next=/accept-invitation";
      $("#invite-signin").hidden = false;
      $("#invite-accept").hidden = true;
    };
    if (!session()) return signin();
    return api("GET", "/v1/auth/me", undefined, session()).then(function (me) {
      if (!me.ok) { setSession(""); return signin(); }
      $("#me").textContent = me.data.user.email;
      $("#invite-accept").hidden = false;
      onClick($("#go"), function () {
        return api("POST", "/v1/invitations/accept", { token: tok }, session()).then(function (res) {
          if (!res.ok) return status("The invitation was not accepted: " + explain(res), "bad");
          sessionStorage.removeItem(INVITE);
          var ws = res.data.workspace || {};
          status("You joined " + (ws.name || "the workspace") + (ws.role ? " as " + ws.role : "") + ".", "good");
          $("#go").hidden = true;
        });
      });
    });
  };

  pages["oauth-complete"] = function () {
    var f = fragment();
    if (f.get("error")) return status("Signing in did not work (" + f.get("error") + "). Try again from the sign-in page.", "bad");
    var tok = f.get("token");
    if (!tok) return status("Nothing to complete here. Start from the sign-in page.", "bad");
    return api("GET", "/v1/auth/me", undefined, tok).then(function (res) {
      if (!res.ok) return status("Signing in did not work: " + explain(res), "bad");
      setSession(tok);
      when("done");
      status("You are signed in as " + res.data.user.email + ".", "good");
    });
  };

  function when3(d) { return d ? new Date(d).toLocaleString() : ""; }

  pages["sessions"] = function () {
    if (!session()) { $("#need-signin").hidden = false; return; }
    var load = function () {
      return Promise.all([api("GET", "/v1/auth/me", undefined, session()), api("GET", "/v1/auth/sessions", undefined, session())]).then(function (r) {
        if (!r[0].ok || !r[1].ok) { setSession(""); $("#session-box").hidden = true; $("#need-signin").hidden = false; return; }
        $("#me").textContent = r[0].data.user.email;
        var rows = $("#session-rows");
        rows.textContent = "";
        r[1].data.items.forEach(function (s) {
          var tr = el("tr");
          tr.appendChild(el("td", (s.user_agent || "unknown device") + (s.current ? " (this one)" : "")));
          tr.appendChild(el("td", when3(s.created_at)));
          tr.appendChild(el("td", when3(s.last_seen_at)));
          var td = el("td");
          if (!s.current) {
            var b = el("button", "Sign out", "secondary");
            b.type = "button";
            b.setAttribute("aria-label", "Sign out the session on " + (s.user_agent || "unknown device"));
            onClick(b, function () {
              return api("DELETE", "/v1/auth/sessions/" + encodeURIComponent(s.id), undefined, session()).then(function (res) {
                if (!res.ok) return status(explain(res), "bad");
                status("That session is signed out.", "good");
                return load();
              });
            });
            td.appendChild(b);
          }
          tr.appendChild(td);
          rows.appendChild(tr);
        });
        $("#session-box").hidden = false;
      });
    };
    onClick($("#signout-all"), function () {
      return api("DELETE", "/v1/auth/sessions", undefined, session()).then(function (res) {
        if (!res.ok) return status(explain(res), "bad");
        return api("POST", "/v1/auth/logout", undefined, session()).then(function () {
          setSession("");
          $("#session-box").hidden = true;
          status("Signed out everywhere (" + (res.data.revoked + 1) + " sessions).", "good");
        });
      });
    });
    onClick($("#signout"), function () {
      return api("POST", "/v1/auth/logout", undefined, session()).then(function () {
        setSession("");
        $("#session-box").hidden = true;
        status("Signed out.", "good");
      });
    });
    return load();
  };

  pages["login"] = function () {
    onSubmit($("#login-form"), function () {
      var body = factor({ email: $("#email").value, password: $("#password").value });
      return api("POST", "/v1/auth/login", body).then(function (res) {
        if (needsFactor(res)) { $("#factor-box").open = true; $("#factor").focus(); return status("Enter your two-factor code to finish.", "bad"); }
        if (!res.ok) return status("Not signed in: " + explain(res), "bad");
        setSession(res.data.token);
        location.assign(safeNext());
      });
    });
  };

  pages["signup"] = function () {
    onSubmit($("#signup-form"), function () {
      return api("POST", "/v1/auth/signup", { email: $("#email").value, password: $("#password").value }).then(function (res) {
        if (!res.ok) return status("No account was created: " + explain(res), "bad");
        status("Check your inbox: we sent a link to verify " + res.data.user.email + ".", "good");
      });
    });
  };

  pages["verify"] = function () { window.FBVerify.init({ $: $, el: el, api: api, status: status, explain: explain, fragment: fragment }); };

  document.addEventListener("DOMContentLoaded", function () {
    var main = $("#app");
    var fn = pages[main.getAttribute("data-page")];
    if (fn) Promise.resolve(fn()).catch(function (e) { status(String(e), "bad"); });
  });
})();
