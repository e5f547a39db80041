// The public "verify a release" page. Files are hashed here (SHA-256):
// WebCrypto for files up to FB_STREAM_THRESHOLD bytes, FBSHA256 chunk by
// chunk above it (WebCrypto has no streaming digest and would need the whole
// file in memory). Only the manifest envelope goes to the server, which
// checks its signatures; the page then compares each file's hash with the
// manifest's outputs and names every mismatch.
(function () {
  "use strict";
  var CHUNK = 4 << 20;
  window.FB_STREAM_THRESHOLD = 64 << 20;

  function toHex(buf) {
    var b = new Uint8Array(buf), s = "";
    for (var i = 0; i < b.length; i++) s += ("0" + b[i].toString(16)).slice(-2);
    return s;
  }

  // hashFile resolves to the file's SHA-256 (hex), reporting progress.
  function hashFile(file, progress) {
    if (file.size <= window.FB_STREAM_THRESHOLD && window.crypto && crypto.subtle) {
      return file.arrayBuffer().then(function (b) { return crypto.subtle.digest("SHA-256", b); }).then(toHex);
    }
    var h = new window.FBSHA256(), off = 0;
    function next() {
      if (off >= file.size) return Promise.resolve(h.hex());
      var end = Math.min(off + CHUNK, file.size);
      return file.slice(off, end).arrayBuffer().then(function (b) {
        h.update(new Uint8Array(b));
        off = end;
        progress(off / file.size);
        return next();
      });
    }
    return next();
  }

  function isEnvelope(o) { return o && typeof o === "object" && typeof o.payload === "string" && Array.isArray(o.signatures); }

  function decodePayload(env) {
    var bin = atob(env.payload), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return JSON.parse(new TextDecoder().decode(bytes));
  }

  var CHECK_NAMES = {
    "envelope": "The manifest file is a signed envelope",
    "payload_type": "It holds a Framebroker release manifest",
    "manifest": "The manifest is well formed",
    "ed25519.present": "It carries an Ed25519 signature",
    "ed25519.keyid": "The signing key is one of this service's keys",
    "ed25519.signature": "The Ed25519 signature matches the manifest",
    "ed25519.validity": "The key was in service when the release was published",
    "hmac": "The service's HMAC signature matches",
    "stored": "It is the manifest this service published for the release"
  };

  window.FBVerify = {
    init: function (u) {
      var $ = u.$, el = u.el;
      var files = {}; // name → File
      var rel = u.fragment().get("release");
      if (rel) $("#release").value = rel;

      function listFiles() {
        var ul = $("#file-list");
        ul.textContent = "";
        Object.keys(files).sort().forEach(function (n) { ul.appendChild(el("li", n + " (" + files[n].size + " bytes)")); });
      }
      function add(list) {
        for (var i = 0; i < list.length; i++) files[list[i].name] = list[i];
        listFiles();
      }
      $("#files").addEventListener("change", function (ev) { add(ev.target.files); });
      var drop = $("#drop");
      ["dragenter", "dragover"].forEach(function (t) {
        drop.addEventListener(t, function (ev) { ev.preventDefault(); drop.classList.add("over"); });
      });
      ["dragleave", "drop"].forEach(function (t) {
        drop.addEventListener(t, function (ev) { ev.preventDefault(); drop.classList.remove("over"); });
      });
      drop.addEventListener("drop", function (ev) { add(ev.dataTransfer.files); });

      // envelope finds the manifest among the files (a JSON envelope), or
      // fetches the release's from the server.
      function envelope() {
        var names = Object.keys(files).filter(function (n) { return /\.json$/i.test(n) || files[n].type === "application/json"; });
        return names.reduce(function (p, n) {
          return p.then(function (found) {
            if (found) return found;
            return files[n].text().then(function (t) {
              try { if (isEnvelope(JSON.parse(t))) return { name: n, text: t }; } catch (e) { /* not JSON */ }
              return null;
            });
          });
        }, Promise.resolve(null)).then(function (found) {
          if (found) return found;
          var m = /rel_[0-9a-z]+/i.exec($("#release").value);
          if (!m) throw new Error("Add the release's manifest file, or enter its release id.");
          return fetch("/v1/provenance/" + encodeURIComponent(m[0]), { credentials: "omit", cache: "no-store" }).then(function (r) {
            return r.text().then(function (t) {
              if (!r.ok) throw new Error("No published release " + m[0] + " here (" + r.status + ").");
              return { name: null, text: t };
            });
          });
        });
      }

      function render(res, env, manifest, fileResults) {
        var okFiles = fileResults.every(function (f) { return f.ok; });
        var valid = res.valid && okFiles;
        var verdict = $("#verdict");
        verdict.textContent = valid
          ? (fileResults.length ? "Verified: the manifest is authentic and every file matches it." : "The manifest is authentic. Add the files to check them too.")
          : "Not verified: " + firstFailure(res, fileResults);
        verdict.className = valid ? "good" : "bad";

        var ul = $("#checks");
        ul.textContent = "";
        res.checks.forEach(function (c) {
          var li = el("li", (CHECK_NAMES[c.name] || c.name) + (c.skipped ? " (skipped)" : "") + (c.detail ? ": " + c.detail : ""), c.skipped ? "skip" : (c.ok ? "ok" : "fail"));
          li.setAttribute("data-check", c.name);
          li.setAttribute("data-ok", String(c.ok));
          ul.appendChild(li);
        });
        var fl = $("#file-checks");
        fl.textContent = "";
        if (!fileResults.length) fl.appendChild(el("li", "No files added.", "skip"));
        fileResults.forEach(function (f) {
          var li = el("li", f.text, f.ok ? "ok" : "fail");
          li.setAttribute("data-file", f.name);
          li.setAttribute("data-ok", String(f.ok));
          fl.appendChild(li);
        });
        var dl = $("#facts");
        dl.textContent = "";
        function fact(k, v) { dl.appendChild(el("dt", k)); var dd = el("dd"); dd.appendChild(el("code", String(v))); dl.appendChild(dd); }
        if (manifest) {
          fact("Release", manifest.release + (manifest.name ? " (" + manifest.name + ")" : ""));
          fact("Workspace", manifest.workspace);
          fact("Published", manifest.published_at);
          if (manifest.ledger_head) fact("Ledger head", "#" + manifest.ledger_head.seq + " " + manifest.ledger_head.hash);
        }
        (env.signatures || []).forEach(function (s) { fact("Signed by key", s.keyid); });
        var ol = $("#shots");
        ol.textContent = "";
        ((manifest && manifest.shots) || []).forEach(function (s) {
          var li = el("li", s.name + " (" + s.shot + ")");
          var inner = el("ul");
          (s.outputs || []).forEach(function (o) { inner.appendChild(el("li", "Output " + o.filename + ": " + o.size + " bytes, SHA-256 " + o.sha256)); });
          (s.jobs || []).forEach(function (j) { inner.appendChild(el("li", "Job " + j.id + ": trail SHA-256 " + j.trail_sha256)); });
          li.appendChild(inner);
          ol.appendChild(li);
        });
        $("#result").hidden = false;
        verdict.setAttribute("tabindex", "-1");
        verdict.focus();
      }

      function firstFailure(res, fileResults) {
        for (var i = 0; i < res.checks.length; i++) {
          var c = res.checks[i];
          if (!c.ok) return (CHECK_NAMES[c.name] || c.name) + " — no" + (c.detail ? " (" + c.detail + ")" : "") + ".";
        }
        for (var j = 0; j < fileResults.length; j++) if (!fileResults[j].ok) return fileResults[j].text;
        return "the signature could not be checked.";
      }

      $("#verify-form").addEventListener("submit", function (ev) {
        ev.preventDefault();
        var btn = $("#verify-form button");
        btn.disabled = true;
        $("#result").hidden = true;
        var env, manifest = null, envName = null;
        envelope().then(function (found) {
          envName = found.name;
          env = JSON.parse(found.text);
          u.status("Checking the signatures…");
          return u.api("POST", "/v1/provenance/verify", found.text);
        }).then(function (res) {
          if (!res.ok) throw new Error("The server could not check the manifest: " + u.explain(res));
          try { manifest = decodePayload(env); } catch (e) { manifest = null; }
          var outputs = [];
          ((manifest && manifest.shots) || []).forEach(function (s) {
            (s.outputs || []).forEach(function (o) { outputs.push({ shot: s.name, o: o }); });
          });
          var names = Object.keys(files).filter(function (n) { return n !== envName; }).sort();
          var results = [];
          return names.reduce(function (p, n) {
            return p.then(function () {
              u.status("Hashing " + n + "…");
              return hashFile(files[n], function (f) { u.status("Hashing " + n + ": " + Math.round(f * 100) + "%"); }).then(function (sum) {
                var byHash = outputs.filter(function (x) { return x.o.sha256 === sum; })[0];
                var byName = outputs.filter(function (x) { return x.o.filename === n; })[0];
                if (byHash) {
                  results.push({ name: n, ok: true, text: n + " matches output " + byHash.o.filename + " of shot " + byHash.shot + " (SHA-256 " + sum + ")." });
                } else if (byName) {
                  results.push({ name: n, ok: false, text: n + " does not match the manifest: expected SHA-256 " + byName.o.sha256 + ", got " + sum + "." });
                } else {
                  results.push({ name: n, ok: false, text: n + " is not an output of this release (SHA-256 " + sum + ")." });
                }
              });
            });
          }, Promise.resolve()).then(function () {
            u.status("");
            render(res.data, env, res.data.valid ? manifest : null, results);
          });
        }).catch(function (e) {
          u.status(e.message || String(e), "bad");
        }).then(function () { btn.disabled = false; });
      });
    }
  };
})();
