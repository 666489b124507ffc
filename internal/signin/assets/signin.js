"use strict";
// Passkeys for ztgate's sign-in pages: the options come from the server as
// JSON with base64url binaries, and the credential goes back the same way.
(function () {
  function enc(buf) {
    const b = new Uint8Array(buf);
    let s = "";
    for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function dec(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const bin = atob(s);
    const b = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
    return b.buffer;
  }
  function status(msg) {
    const el = document.getElementById("status");
    if (el) el.textContent = msg;
  }
  async function post(url, body, csrf) {
    const headers = { "Content-Type": "application/json" };
    if (csrf) headers["X-ZTGate-CSRF"] = csrf;
    const r = await fetch(url, { method: "POST", headers: headers, body: JSON.stringify(body || {}), credentials: "same-origin" });
    let j = {};
    try { j = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) throw new Error(j.error || ("HTTP " + r.status));
    return j;
  }
  function credential(c) {
    const r = c.response;
    const o = {
      id: c.id, rawId: enc(c.rawId), type: c.type,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { clientDataJSON: enc(r.clientDataJSON) },
    };
    if (c.authenticatorAttachment) o.authenticatorAttachment = c.authenticatorAttachment;
    if (r.attestationObject) {
      o.response.attestationObject = enc(r.attestationObject);
      if (r.getTransports) o.response.transports = r.getTransports();
    }
    if (r.signature) {
      o.response.authenticatorData = enc(r.authenticatorData);
      o.response.signature = enc(r.signature);
      if (r.userHandle) o.response.userHandle = enc(r.userHandle);
    }
    return o;
  }
  async function signIn(btn) {
    status("Waiting for your passkey…");
    const opts = await post("/.ztgate/passkey/login/begin?rd=" + encodeURIComponent(btn.dataset.rd || ""));
    const pk = opts.publicKey;
    pk.challenge = dec(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = dec(c.id); });
    const cred = await navigator.credentials.get({ publicKey: pk });
    const res = await post("/.ztgate/passkey/login/finish", credential(cred));
    status("Signed in.");
    location.assign(res.redirect);
  }
  async function register(btn) {
    status("Waiting for your authenticator…");
    const csrf = btn.dataset.csrf;
    const opts = await post("/.ztgate/passkey/register/begin", {}, csrf);
    const pk = opts.publicKey;
    pk.challenge = dec(pk.challenge);
    pk.user.id = dec(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = dec(c.id); });
    const cred = await navigator.credentials.create({ publicKey: pk });
    const res = await post("/.ztgate/passkey/register/finish", credential(cred), csrf);
    status("Passkey registered.");
    location.assign(res.redirect);
  }
  function wire(id, fn, what) {
    const btn = document.getElementById(id);
    if (!btn) return;
    if (!window.PublicKeyCredential) { btn.hidden = true; return; }
    btn.addEventListener("click", function () {
      btn.disabled = true;
      fn(btn).catch(function (e) { status(what + " failed: " + e.message); btn.disabled = false; });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    wire("passkey-login", signIn, "Passkey sign-in");
    wire("passkey-register", register, "Passkey registration");
  });
})();
