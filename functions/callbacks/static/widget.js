/*! ringback callback widget: one script tag, no dependencies, no third-party requests. See docs/widget.md */
(function (win, doc) {
  'use strict';
  if (win.ringbackWidget && win.ringbackWidget.version) return; // included twice

  var VERSION = '1.0.0';
  var EVENT_ATTEMPTS = 4;
  var SERVER_EVENTS = ['otoOpened', 'otoSessionRequested', 'otoCmbRequested', 'otoCallBooked',
    'otoInvalidPhone', 'otoNoAgentsAvailable', 'otoCallError'];
  var MODE_EVENT = { now: 'otoSessionRequested', later: 'otoCmbRequested', scheduled: 'otoCallBooked' };
  var CODE = { offline: 0, online: 1, busy: 2 };

  // ---------------------------------------------------------------- configuration
  var script = doc.currentScript || [].slice.call(doc.querySelectorAll('script[src*="widget.js"]')).pop();
  var data = (script && script.dataset) || {};
  // The API base defaults to where this script came from (the folder of .../widget.js, stage path
  // included; for the versioned URL .../widget/<version>/widget.js, the folder above widget/).
  var API = (data.api || (script && script.src ? new URL('.', new URL(script.src, location.href)).href
    .replace(/\/widget\/[0-9a-f]{12}\/$/, '/') : location.origin)).replace(/\/+$/, '');
  var TEXTS = {
    en: {
      title: "We'll call you", close: 'Close', open: 'Open the callback form',
      fab: { online: 'Call me', busy: 'Call me back', offline: 'Leave your number' },
      status: {
        online: 'We are available now.', busy: 'All our agents are busy right now.',
        offline: 'We are not available right now.'
      },
      wait: 'Expected wait: about {n} min.',
      when: 'When should we call?', now: 'Now', later: 'Call me back', scheduled: 'Schedule',
      name: 'Your name (optional)', phone: 'Phone number', country: 'Country',
      hint: 'With the country code (+…), or a number in {c}.',
      day: 'Day', time: 'Time', loading: 'Loading times…', none: 'No free times on this day. Please pick another day.',
      slotsFail: 'The times could not be loaded.', zone: 'Times are in your time zone ({z}).',
      zoneName: '{c} time', noDays: 'No free times soon.', nowOff: 'Now: not possible, {w}.',
      off: { closed: 'we are closed', holiday: 'closed today', no_agents: 'nobody is free' }, opens: ' (we open {t})',
      consent: 'I agree to be called about my request.',
      submit: { now: 'Call me now', later: 'Call me back', scheduled: 'Book the call' },
      sending: 'Sending…', required: 'Enter your phone number.',
      invalid: 'This does not look like a valid phone number.', pick: 'Pick a time.',
      agree: 'Please confirm you agree to be called.', fix: 'Please correct the highlighted fields.',
      closedNow: 'Nobody can take the call right now: we will call you as soon as we can.',
      thanks: 'Thank you!', expected: 'Expected call time: {t}', ref: 'Reference: {id}',
      cancel: 'Cancel this call', cancelled: 'Your call has been cancelled.', again: 'New request',
      limited: 'Too many requests. Please try again later.', failed: 'Something went wrong. Please try again.',
      network: 'We could not be reached. Please try again.'
    },
    cs: {
      title: 'Zavoláme vám', close: 'Zavřít', open: 'Otevřít formulář pro zpětné volání',
      fab: { online: 'Zavolejte mi', busy: 'Zavolejte mi zpět', offline: 'Nechte nám číslo' },
      status: {
        online: 'Teď jsme k zastižení.', busy: 'Všichni operátoři právě telefonují.',
        offline: 'Teď nejsme k zastižení.'
      },
      wait: 'Předpokládané čekání: asi {n} min.',
      when: 'Kdy vám máme zavolat?', now: 'Hned', later: 'Později', scheduled: 'Naplánovat',
      name: 'Jméno (nepovinné)', phone: 'Telefonní číslo', country: 'Země',
      hint: 'S předvolbou (+…), nebo číslo pro {c}.',
      day: 'Den', time: 'Čas', loading: 'Načítám časy…', none: 'V tento den nejsou volné časy. Vyberte jiný den.',
      slotsFail: 'Časy se nepodařilo načíst.', zone: 'Časy jsou ve vašem časovém pásmu ({z}).',
      zoneName: 'čas {c}', noDays: 'Brzy nejsou volné časy.', nowOff: 'Hned: nejde, {w}.',
      off: { closed: 'máme zavřeno', holiday: 'dnes zavřeno', no_agents: 'nikdo není volný' }, opens: ' (otevíráme {t})',
      consent: 'Souhlasím, že mi kvůli mému požadavku zavoláte.',
      submit: { now: 'Zavolejte mi hned', later: 'Zavolejte mi zpět', scheduled: 'Rezervovat hovor' },
      sending: 'Odesílám…', required: 'Zadejte telefonní číslo.',
      invalid: 'Toto nevypadá jako platné telefonní číslo.', pick: 'Vyberte čas.',
      agree: 'Potvrďte prosím souhlas se zavoláním.', fix: 'Opravte prosím označená pole.',
      closedNow: 'Teď hovor nikdo nepřijme: zavoláme vám, jakmile to bude možné.',
      thanks: 'Děkujeme!', expected: 'Očekávaný čas hovoru: {t}', ref: 'Číslo požadavku: {id}',
      cancel: 'Zrušit hovor', cancelled: 'Hovor byl zrušen.', again: 'Nový požadavek',
      limited: 'Příliš mnoho požadavků. Zkuste to prosím později.', failed: 'Něco se nepovedlo. Zkuste to prosím znovu.',
      network: 'Nepodařilo se nás zastihnout. Zkuste to prosím znovu.'
    }
  };
  var lang = (data.lang || doc.documentElement.lang || navigator.language || 'en').slice(0, 2).toLowerCase();
  if (!TEXTS[lang]) lang = 'en';
  var T = TEXTS[lang];
  var country = (data.country || 'CZ').toUpperCase();
  var countries = (data.countries || country).toUpperCase().split(/[\s,]+/).filter(Boolean);
  var modes = (data.modes || 'now,later,scheduled').split(/[\s,]+/).filter(function (m) { return MODE_EVENT[m]; });
  if (!modes.length) modes = ['now', 'later', 'scheduled'];
  var siteKey = data.siteKey || '';
  var horizon = Math.min(Math.max(parseInt(data.horizon, 10) || 14, 1), 31);
  var minPoll = Math.max(parseInt(data.poll, 10) || 30, 5);
  var tz = (win.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone) || 'UTC';
  // "Prague time", not "GMT+1".
  var zoneName = /^(UTC|Etc\/)/.test(tz) ? 'UTC'
    : fill(T.zoneName, { c: tz.split('/').pop().replace(/_/g, ' ') });
  function colour(value, fallback) {
    return value && win.CSS && CSS.supports('color', value) ? value : fallback;
  }
  var color = colour(data.color, '#00795a'), textColor = colour(data.textColor, '');
  var left = data.position === 'left';

  // ---------------------------------------------------------------- small helpers
  function uid() {
    if (win.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16); crypto.getRandomValues(b);
    return [].map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
  }
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }
  function el(tag, attrs, children) {
    var node = doc.createElement(tag);
    for (var k in attrs || {}) {
      if (k === 'text') node.textContent = attrs[k];
      else if (attrs[k] === true) node.setAttribute(k, '');
      else if (attrs[k] != null && attrs[k] !== false) node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }
  function assign(target) {
    for (var i = 1; i < arguments.length; i++) for (var k in arguments[i]) target[k] = arguments[i][k];
    return target;
  }
  function fmt(options) { return new Intl.DateTimeFormat(lang, assign({ timeZone: tz }, options)); }
  function httpUrl(value) { return /^https?:\/\//i.test(value || '') ? value.slice(0, 2048) : undefined; }
  var session = (function () {
    try {
      var s = sessionStorage.getItem('ringback.session');
      if (!s) sessionStorage.setItem('ringback.session', s = uid());
      return s;
    } catch (e) { return uid(); }
  })();

  // ---------------------------------------------------------------- events
  var listeners = {};
  var state = { status: null, code: null, wait: null, checked: 0, mode: null, request: null, key: null, sent: null };
  function emit(name, fields) {
    var detail = assign({
      event: name, provider: 'ringback', session: session, sessionGuid: session, kpiGuid: session, cookie: '',
      mode: state.mode || '', statusCode: state.code, timestamp: Date.now()
    }, fields || {});
    try { win.dispatchEvent(new CustomEvent(name, { detail: detail })); } catch (e) { /* very old browser */ }
    (listeners[name] || []).concat(listeners['*'] || []).forEach(function (fn) {
      try { fn(detail); } catch (e) { setTimeout(function () { throw e; }); }
    });
    if (SERVER_EVENTS.indexOf(name) >= 0 && data.events !== 'off') post(name, detail);
  }
  function post(name, detail) {
    // Fire and forget: never blocks the UI; keepalive lets it finish when the page goes away.
    var body = {
      provider: 'ringback', event: name, event_id: uid(), site_key: siteKey, session_id: session,
      request_id: detail.leadGuid || '', occurred_at: detail.timestamp, page: location.href.slice(0, 2048),
      mode: detail.mode || '', problem: detail.problem || ''
    };
    if (detail.statusCode != null) body.code = detail.statusCode;
    var headers = { 'Content-Type': 'application/json' };
    if (siteKey) headers['X-Ringback-Site-Key'] = siteKey;
    sendEvent(JSON.stringify(body), headers, 1);
  }
  function sendEvent(payload, headers, attempt) {
    // A refused (429), unavailable (5xx) or lost answer is tried again after its Retry-After (or
    // 1, 2, 4 s), up to EVENT_ATTEMPTS in all. The same event_id each time: the event fan-out
    // counts a redelivery once, so a retry after a lost 202 changes nothing.
    function again(retryAfter) {
      if (attempt >= EVENT_ATTEMPTS) return;
      var seconds = retryAfter > 0 ? Math.min(retryAfter, 30) : Math.pow(2, attempt - 1);
      setTimeout(function () { sendEvent(payload, headers, attempt + 1); }, seconds * 1000);
    }
    try {
      fetch(API + '/v1/events/widget', {
        method: 'POST', headers: headers, body: payload, keepalive: true, credentials: 'omit'
      }).then(function (answer) {
        if (answer.status === 429 || answer.status >= 500) again(parseInt(answer.headers.get('Retry-After'), 10));
      }, function () { again(0); });  // analytics never bothers the visitor
    } catch (e) { /* no fetch: skip */ }
  }

  // ---------------------------------------------------------------- markup and styles
  var CSS_TEXT =
    ':host{all:initial}*{box-sizing:border-box;font:inherit}' +
    '.w{position:fixed;bottom:20px;' + (left ? 'left' : 'right') + ':20px;z-index:2147483000;' +
    'font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222}' +
    '.fab{display:flex;align-items:center;gap:8px;border:0;border-radius:28px;padding:12px 18px;cursor:pointer;' +
    'background:var(--c);color:var(--t);font-weight:600;box-shadow:0 4px 14px rgba(0,0,0,.25)}' +
    '.fab svg{width:20px;height:20px;fill:currentColor}' +
    '.dot{width:10px;height:10px;border-radius:50%;background:#bbb;border:2px solid #fff}' +
    '[data-status=online] .dot{background:#2d2}[data-status=busy] .dot{background:#fb0}' +
    '[data-status=offline] .fab{background:#555;color:#fff}' +
    ':focus-visible{outline:3px solid #1a5fd0;outline-offset:2px}' +
    '.p{position:absolute;bottom:64px;' + (left ? 'left' : 'right') + ':0;width:360px;max-height:calc(100vh - 100px);' +
    'overflow:auto;background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);padding:16px}' +
    '.p[hidden],[hidden]{display:none}' +
    'h2{font-size:18px;font-weight:700;margin:0 36px 4px 0}' +
    '.x{position:absolute;top:10px;right:10px;width:32px;height:32px;border:0;background:none;font-size:22px;' +
    'cursor:pointer;border-radius:6px}' +
    '.st{margin:0 0 10px;color:#555;font-size:14px}' +
    'fieldset{border:0;margin:0 0 12px;padding:0}legend{padding:0}legend,label,.l{display:block;font-weight:600;margin:0 0 4px}' +
    'h3{margin:0 0 6px;font-size:17px}' +
    '.m{display:flex;gap:4px}.m label,.s label{flex:1;margin:0}' +
    '.m input,.s input{position:absolute;opacity:0;width:1px;height:1px}' +
    '.m span,.s span{display:block;text-align:center;padding:8px 4px;border:1px solid #bbb;border-radius:8px;' +
    'cursor:pointer;font-weight:500;font-size:14px}' +
    '.m input:checked+span,.s input:checked+span{background:var(--c);color:var(--t);border-color:var(--c)}' +
    '.m input:focus-visible+span,.s input:focus-visible+span{outline:3px solid #1a5fd0;outline-offset:2px}' +
    '.m input:disabled+span{color:#767676;border-style:dashed;background:#f4f4f4;cursor:not-allowed}' +
    '.s{display:grid;grid-template-columns:repeat(4,1fr);gap:4px}' +
    '.f{margin:0 0 12px}input[type=text],input[type=tel],select{width:100%;padding:9px 10px;border:1px solid #888;' +
    'border-radius:8px;background:#fff;color:#222}' +
    '[aria-invalid=true]{border-color:#c00}.e{color:#b00;font-size:13px;margin:4px 0 0}' +
    '.h{color:#555;font-size:13px;margin:4px 0 0}.c{display:flex;gap:8px;align-items:flex-start;font-weight:400}' +
    '.b{width:100%;border:0;border-radius:8px;padding:12px;background:var(--c);color:var(--t);font-weight:700;' +
    'cursor:pointer;margin-top:4px}.b[disabled]{opacity:.6;cursor:wait}' +
    'form>.b{position:sticky;bottom:-16px;box-shadow:0 0 0 16px #fff}' +
    '.b2{background:#fff;color:#222;border:1px solid #888}' +
    '.hp{position:absolute;left:-9999px;width:1px;height:1px;overflow:hidden}' +
    '@media (max-width:480px){.w{bottom:12px;' + (left ? 'left' : 'right') + ':12px}' +
    '.p{position:fixed;left:0;right:0;bottom:0;width:100%;max-height:90vh;border-radius:14px 14px 0 0}' +
    '.o .fab{display:none}}' +
    '@media (prefers-reduced-motion:no-preference){.fab,.b{transition:filter .15s}.fab:hover,.b:hover{filter:brightness(1.1)}}';
  var ICON = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2c.3-.3.7-' +
    '.4 1-.2 1.1.4 2.3.6 3.6.6.6 0 1 .4 1 1V20c0 .6-.4 1-1 1A17 17 0 0 1 3 4c0-.6.4-1 1-1h3.5c.6 0 1 .4 1 1 0 1.3.2 2.5.6 ' +
    '3.6.1.3 0 .7-.2 1z"/></svg>';

  var host, root, wrap, fab, fabText, panel, statusLine, form, submitBtn, slotsBox, slotsNote, daySelect, summary,
    done, doneText, refText, cancelBtn, nowNote, fields = {};

  function field(id, labelText, input, hint) {
    var err = el('p', { id: 'rb-' + id + '-e', class: 'e', hidden: true });
    input.id = 'rb-' + id;
    input.setAttribute('aria-describedby', (hint ? 'rb-' + id + '-h ' : '') + err.id);
    fields[id] = { input: input, error: err };
    return el('div', { class: 'f' }, [el('label', { for: input.id, text: labelText }), input,
      hint && el('p', { id: 'rb-' + id + '-h', class: 'h', text: hint }), err]);
  }

  function build() {
    host = el('div', { id: 'ringback-widget' });
    root = host.attachShadow({ mode: 'open' });
    wrap = el('div', { class: 'w', 'data-status': 'unknown' });
    wrap.style.setProperty('--c', color);
    if (textColor) wrap.style.setProperty('--t', textColor);
    wrap.addEventListener('keydown', onKey);
    if (root.adoptedStyleSheets && win.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
      var sheet = new CSSStyleSheet(); // not an inline <style>: fine under a strict CSP
      sheet.replaceSync(CSS_TEXT);
      root.adoptedStyleSheets = [sheet];
    } else root.appendChild(el('style', { text: CSS_TEXT }));
    fab = el('button', { type: 'button', class: 'fab', 'aria-haspopup': 'dialog', 'aria-expanded': 'false',
      'aria-controls': 'rb-panel' });
    fab.innerHTML = ICON;
    fabText = el('span', { text: T.fab.online });
    fab.appendChild(fabText);
    fab.appendChild(el('span', { class: 'dot', 'aria-hidden': 'true' }));
    fab.addEventListener('click', function () { if (panel.hidden) open(); else close(); });

    panel = el('div', { id: 'rb-panel', class: 'p', role: 'dialog', 'aria-modal': 'true',
      'aria-labelledby': 'rb-title', hidden: true });
    statusLine = el('p', { class: 'st', id: 'rb-status', role: 'status' });
    var close_ = el('button', { type: 'button', class: 'x', 'aria-label': T.close, text: '×' });
    close_.addEventListener('click', function () { close(); });

    // Mode switch: native radios (arrow keys move between them).
    var modeBox = el('div', { class: 'm' }, modes.map(function (m) {
      var input = el('input', { type: 'radio', name: 'mode', value: m,
        'aria-describedby': m === 'now' ? 'rb-now-n' : null });
      input.addEventListener('change', function () { setMode(m); });
      return el('label', {}, [input, el('span', { text: T[m] })]);
    }));
    nowNote = el('p', { id: 'rb-now-n', class: 'h', hidden: true });
    var modeSet = el('fieldset', {}, [el('legend', { text: T.when }), modeBox, nowNote]);

    var phone = el('input', { type: 'tel', name: 'phone', autocomplete: 'tel', inputmode: 'tel', required: true,
      'aria-required': 'true' });
    var regionName = country;
    try { regionName = new Intl.DisplayNames([lang], { type: 'region' }).of(country); } catch (e) { /* keep code */ }
    var countryRow = null;
    if (countries.length > 1) {
      var select = el('select', { name: 'country', autocomplete: 'country' }, countries.map(function (c) {
        var label = c;
        try { label = new Intl.DisplayNames([lang], { type: 'region' }).of(c); } catch (e) { /* keep code */ }
        return el('option', { value: c, text: label, selected: c === country });
      }));
      countryRow = field('country', T.country, select);
    }
    // Scheduling: a day select and the free slots of that day as radios, shown in the visitor's zone.
    daySelect = el('select', { name: 'day' });
    var dayFmt = fmt({ weekday: 'short', day: 'numeric', month: 'short' });
    for (var i = 0; i < horizon; i++) {
      var d = new Date(); d.setHours(12, 0, 0, 0); d.setDate(d.getDate() + i);
      daySelect.appendChild(el('option', { value: isoDay(d), text: dayFmt.format(d) }));
    }
    daySelect.addEventListener('change', function () { loadSlots(daySelect.value); });
    slotsBox = el('div', { class: 's', role: 'radiogroup', 'aria-labelledby': 'rb-time-l',
      'aria-describedby': 'rb-slot-n rb-slot-e' });
    slotsNote = el('p', { id: 'rb-slot-n', class: 'h', 'aria-live': 'polite' });
    fields.slot = { input: slotsBox, error: el('p', { id: 'rb-slot-e', class: 'e', hidden: true }) };
    var schedule = el('div', { id: 'rb-sched', hidden: true }, [
      field('day', T.day, daySelect),
      el('div', { class: 'f' }, [el('p', { id: 'rb-time-l', class: 'l', text: T.time }),
        slotsBox, slotsNote, fields.slot.error])
    ]);
    var consent = null;
    if (data.consent === 'required' || data.consent === 'optional') {
      var box = el('input', { type: 'checkbox', name: 'consent', id: 'rb-consent', 'aria-describedby': 'rb-consent-e',
        'aria-required': data.consent === 'required' ? 'true' : null });
      fields.consent = { input: box, error: el('p', { id: 'rb-consent-e', class: 'e', hidden: true }) };
      consent = el('div', { class: 'f' }, [el('label', { class: 'c', for: 'rb-consent' },
        [box, doc.createTextNode(data.consentText || T.consent)]), fields.consent.error]);
    }
    summary = el('p', { class: 'e', role: 'alert', hidden: true });
    submitBtn = el('button', { type: 'submit', class: 'b', text: T.submit.now });
    form = el('form', { novalidate: true }, [
      modeSet,
      field('name', T.name, el('input', { type: 'text', name: 'name', autocomplete: 'name', maxlength: '120' })),
      countryRow,
      field('phone', T.phone, phone, fill(T.hint, { c: regionName })),
      schedule, consent,
      // Honeypot: people never see or fill it; bots do.
      el('div', { class: 'hp', 'aria-hidden': 'true' }, [el('label', {}, [doc.createTextNode('Website'),
        el('input', { type: 'text', name: 'website', tabindex: '-1', autocomplete: 'off' })])]),
      summary, submitBtn
    ]);
    form.addEventListener('submit', function (e) { e.preventDefault(); submit(); });

    // Confirmation
    doneText = el('p', {});
    refText = el('p', { class: 'h' });
    cancelBtn = el('button', { type: 'button', id: 'rb-cancel', class: 'b b2', text: T.cancel });
    cancelBtn.addEventListener('click', cancel);
    var again = el('button', { type: 'button', id: 'rb-again', class: 'b b2', text: T.again });
    again.addEventListener('click', reset);
    done = el('div', { id: 'rb-done', hidden: true, 'aria-live': 'polite' }, [
      el('h3', { id: 'rb-done-t', tabindex: '-1', text: T.thanks }),
      doneText, refText, cancelBtn, again]);

    panel.appendChild(el('h2', { id: 'rb-title', text: T.title }));
    panel.appendChild(close_);
    panel.appendChild(statusLine);
    panel.appendChild(form);
    panel.appendChild(done);
    wrap.appendChild(panel);
    wrap.appendChild(fab);
    root.appendChild(wrap);
    doc.body.appendChild(host);
    if (!textColor) wrap.style.setProperty('--t', readableOn(getComputedStyle(fab).backgroundColor));
    setMode(modes[0]);
    showStatus();
  }
  // White or near-black, whichever contrasts more with the main colour (WCAG relative luminance).
  function readableOn(rgbText) {
    var c = (rgbText.match(/[\d.]+/g) || [0, 0, 0]).slice(0, 3), l = 0;
    for (var i = 0; i < 3; i++) {
      var v = c[i] / 255;
      l += [0.2126, 0.7152, 0.0722][i] * (v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
    }
    return (l + 0.05) / 0.05 > 1.05 / (l + 0.05) ? '#111' : '#fff';
  }
  function isoDay(d) {
    return d.getFullYear() + '-' + ('0' + (d.getMonth() + 1)).slice(-2) + '-' + ('0' + d.getDate()).slice(-2);
  }

  // ---------------------------------------------------------------- opening, closing, keyboard
  function open(mode) {
    if (mode && modes.indexOf(mode) >= 0) setMode(mode);
    if (!panel.hidden) return;
    panel.hidden = false;
    wrap.classList.add('o'); // phone width: the sheet covers the button, which comes back on close
    state.touched = true;
    fab.setAttribute('aria-expanded', 'true');
    if (Date.now() - state.checked > 15000) refreshStatus();
    var first = done.hidden ? root.querySelector('input[name=mode]:checked') : root.getElementById('rb-done-t');
    (first || panel).focus();
    emit('otoOpened');
  }
  function close() {
    if (panel.hidden) return;
    panel.hidden = true;
    wrap.classList.remove('o');
    fab.setAttribute('aria-expanded', 'false');
    fab.focus();
    emit('ringbackClosed');
  }
  function focusables() {
    return [].filter.call(panel.querySelectorAll('button,input,select,textarea,a[href],[tabindex="0"]'), function (n) {
      if (n.disabled || n.tabIndex < 0 || !n.getClientRects().length) return false;
      if (n.type === 'radio') { // a radio group is one tab stop: its checked radio, else its first
        var group = panel.querySelectorAll('input[name="' + n.name + '"]');
        var checked = [].filter.call(group, function (r) { return r.checked; })[0];
        return checked ? n === checked : n === group[0];
      }
      return true;
    });
  }
  function onKey(e) {
    if (panel.hidden) return;
    if (e.key === 'Escape') { e.stopPropagation(); close(); return; }
    if (e.key !== 'Tab') return;
    var list = focusables(), first = list[0], last = list[list.length - 1], active = root.activeElement;
    if (!first) return;
    if (e.shiftKey && (active === first || !panel.contains(active))) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && (active === last || !panel.contains(active))) { e.preventDefault(); first.focus(); }
  }

  // ---------------------------------------------------------------- status (polite polling)
  var pollTimer = null, failures = 0;
  function refreshStatus() {
    clearTimeout(pollTimer);
    return fetch(API + '/v1/status', { credentials: 'omit' }).then(function (r) {
      var age = /max-age=(\d+)/.exec(r.headers.get('Cache-Control') || '');
      return r.json().then(function (body) {
        if (!r.ok || !CODE.hasOwnProperty(body.status)) throw new Error('status ' + r.status);
        failures = 0;
        state.checked = Date.now();
        var changed = body.status !== state.status;
        state.status = body.status;
        state.code = CODE[body.status];
        state.wait = body.estimated_wait_s;
        // Nobody can take a call now: offer "call me back" first, until the visitor opens the panel.
        if (!state.touched && body.modes && modes[0] === 'now' && modes.indexOf('later') > 0) {
          var preferred = body.modes.now === false ? 'later' : 'now';
          if (preferred !== state.mode) setMode(preferred);
        }
        applyModes(body);
        showStatus();
        if (changed) emit('ringbackStatus', { status: state.status, code: state.code });
        schedulePoll(Math.max(age ? +age[1] : 0, minPoll));
      });
    }).catch(function () {
      failures++;
      schedulePoll(Math.min(minPoll * Math.pow(2, failures), 600));
    });
  }
  // "Now" is switched off, with the reason, when the status says so.
  function applyModes(body) {
    var input = root.querySelector('input[name=mode][value=now]');
    if (!input) return;
    var off = !!(body.modes && body.modes.now === false);
    input.disabled = off;
    nowNote.textContent = off ? fill(T.nowOff, { w: (T.off[body.reason] || T.off.closed) + (body.next_opening_at
      ? fill(T.opens, { t: fmt({ weekday: 'short', hour: 'numeric', minute: '2-digit' })
        .format(new Date(body.next_opening_at)) + ' ' + zoneName }) : '') }) : '';
    nowNote.hidden = !off;
    if (off && state.mode === 'now') {
      var other = modes.filter(function (m) { return m !== 'now'; });
      if (other.length) setMode(other.indexOf('later') >= 0 ? 'later' : other[0]);
    }
  }
  function schedulePoll(seconds) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(function () {
      if (doc.hidden) pollTimer = null; // resumed by visibilitychange
      else refreshStatus();
    }, seconds * 1000);
  }
  doc.addEventListener('visibilitychange', function () {
    if (!doc.hidden && !pollTimer && fab) refreshStatus();
  });
  function showStatus() {
    var s = state.status || 'online';
    wrap.setAttribute('data-status', state.status || 'unknown');
    fabText.textContent = T.fab[s];
    fab.setAttribute('aria-label', T.fab[s] + (state.status ? ' – ' + T.status[s] : '') + ' (' + T.open + ')');
    var text = state.status ? T.status[s] : '';
    if (s === 'busy' && state.wait) text += ' ' + fill(T.wait, { n: Math.max(1, Math.round(state.wait / 60)) });
    statusLine.textContent = text;
    statusLine.hidden = !text;
  }

  // ---------------------------------------------------------------- modes and slots
  function setMode(m) {
    state.mode = m;
    [].forEach.call(root.querySelectorAll('input[name=mode]'), function (r) { r.checked = r.value === m; });
    root.getElementById('rb-sched').hidden = m !== 'scheduled';
    submitBtn.textContent = T.submit[m];
    if (m === 'scheduled' && !slotsBox.firstChild) loadSlots(daySelect.value);
  }
  // First load: all days; those without a free time are not offered.
  var slotsRequest = 0, daysLoaded = false;
  function loadSlots(day, fresh) {
    var ticket = ++slotsRequest, all = !daysLoaded;
    slotsBox.textContent = '';
    slotsNote.textContent = T.loading;
    var url = API + '/v1/callbacks/slots?date=' + encodeURIComponent(all ? daySelect.options[0].value : day) +
      (all ? '&days=' + daySelect.options.length : '') + '&tz=' + encodeURIComponent(tz);
    return fetch(url, { credentials: 'omit', cache: fresh ? 'no-store' : 'default' }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error('slots ' + r.status);
        if (ticket !== slotsRequest) return;
        var free = {};
        (body.days || []).forEach(function (d) { free[d.date] = d.slots || []; });
        if (all) {
          daysLoaded = true;
          [].slice.call(daySelect.options).forEach(function (o) {
            if (!(free[o.value] || []).length) daySelect.removeChild(o);
          });
          if (!daySelect.options.length) {
            daySelect.disabled = true;
            slotsNote.textContent = T.noDays;
            return;
          }
          day = daySelect.value;
        }
        renderSlots(free[day] || []);
      });
    }).catch(function () {
      if (ticket === slotsRequest) slotsNote.textContent = T.slotsFail;
    });
  }
  function renderSlots(slots) {
    slotsBox.textContent = '';
    var timeFmt = fmt({ hour: 'numeric', minute: '2-digit' });
    slots.forEach(function (s) {
      var input = el('input', { type: 'radio', name: 'slot', value: s.start,
        'aria-label': fmt({ weekday: 'long', day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit' })
          .format(new Date(s.start)) + ' ' + zoneName });
      slotsBox.appendChild(el('label', {}, [input, el('span', { text: timeFmt.format(new Date(s.start)),
        'aria-hidden': 'true' })]));
    });
    slotsNote.textContent = slots.length ? fill(T.zone, { z: zoneName }) : T.none;
  }

  // ---------------------------------------------------------------- submitting
  var normalize = null;
  function showError(name, message) {
    var f = fields[name === 'scheduled_at' || name === 'time' || name === 'date' || name === 'timezone' ? 'slot' : name];
    if (!f) return false;
    f.error.textContent = message;
    f.error.hidden = false;
    f.input.setAttribute('aria-invalid', 'true');
    return f;
  }
  function clearErrors() {
    for (var k in fields) { fields[k].error.hidden = true; fields[k].input.removeAttribute('aria-invalid'); }
    summary.hidden = true;
  }
  function fail(message) { summary.textContent = message; summary.hidden = false; }
  function focusField(f) {
    var target = f.input === slotsBox ? (slotsBox.querySelector('input') || daySelect) : f.input;
    target.focus();
  }
  function customer(phone) {
    return { name: fields.name.input.value.trim(), phone: phone, email: '', extra: '',
      country: fields.country ? fields.country.input.value : country };
  }
  function submit() {
    if (submitBtn.disabled) return; // double click: the first submission is in flight
    clearErrors();
    var raw = fields.phone.input.value.trim(), phone = raw, mode = state.mode;
    if (!raw) { focusField(showError('phone', T.required)); return; }
    if (normalize) {
      try { phone = normalize(raw); } catch (e) { phone = null; }
      if (typeof phone !== 'string' || !phone.trim()) {
        focusField(showError('phone', T.invalid));
        emit('otoInvalidPhone', assign(customer(raw), { problem: 'custom_normalization' }));
        return;
      }
    }
    var slot = root.querySelector('input[name=slot]:checked');
    if (mode === 'scheduled' && !slot) { focusField(showError('slot', T.pick)); return; }
    if (fields.consent && data.consent === 'required' && !fields.consent.input.checked) {
      focusField(showError('consent', T.agree)); return;
    }
    var body = {
      mode: mode, phone: phone, country: fields.country ? fields.country.input.value : country,
      name: fields.name.input.value.trim() || undefined, language: lang, source: data.source || 'ringback',
      page_url: httpUrl(location.href), referrer: httpUrl(doc.referrer), session_guid: session,
      widget_id: data.widgetId || undefined, website: form.elements.website.value
    };
    var params = new URLSearchParams(location.search);
    ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content'].forEach(function (k) {
      if (params.get(k)) body[k] = params.get(k).slice(0, 200);
    });
    if (fields.consent) {
      body.consent = fields.consent.input.checked;
      if (data.consentVersion) body.consent_text_version = data.consentVersion;
    }
    if (mode === 'scheduled') body.scheduled_at = slot.value;
    var noAgents = mode === 'now' && (state.status === 'offline' || state.status === 'busy');
    if (noAgents) emit('otoNoAgentsAvailable', assign(customer(phone), { problem: state.status }));
    // One Idempotency-Key per submission: a retry or double click of the same form reuses it.
    var json = JSON.stringify(body);
    if (json !== state.sent) { state.sent = json; state.key = uid(); }
    submitBtn.disabled = true;
    submitBtn.textContent = T.sending;
    send(json, state.key, 1).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (answer) {
        if (r.status === 202 || r.status === 200) return confirmed(answer, body, noAgents);
        if (r.status === 422 && answer.fields) {
          var firstField = null, other = [];
          answer.fields.forEach(function (p) {
            var name = String(p.field).replace(/^body\./, '');
            var message = name === 'phone' && lang !== 'en' ? T.invalid : p.message;
            var shown = showError(name, message);
            if (shown) firstField = firstField || shown; else other.push(p.message);
            if (name === 'phone') emit('otoInvalidPhone', assign(customer(phone), { problem: 'api' }));
            if (/^(scheduled_at|date|time)$/.test(name)) loadSlots(daySelect.value, true);
          });
          fail(other.length ? other.join(' ') : T.fix);
          if (firstField) focusField(firstField);
          return;
        }
        if (r.status === 429) return fail(T.limited);
        if (r.status === 403 || r.status === 409) return fail(answer.message || T.failed);
        fail(T.failed);
      });
    }, function () {
      fail(T.network);
    }).then(function () {
      submitBtn.disabled = false;
      submitBtn.textContent = T.submit[state.mode];
    });
  }
  function send(json, key, retries) {
    var headers = { 'Content-Type': 'application/json', 'Idempotency-Key': key };
    if (siteKey) headers['X-Ringback-Site-Key'] = siteKey;
    return fetch(API + '/v1/callbacks', { method: 'POST', headers: headers, body: json, credentials: 'omit' })
      .then(function (r) {
        // 409: the first try with this key is still being processed; 5xx: the gateway gave up.
        if (/^(409|502|503|504)$/.test(r.status) && retries > 0) return wait(send, json, key, retries);
        return r;
      }, function (error) {
        if (retries > 0) return wait(send, json, key, retries); // same key: safe to repeat
        throw error;
      });
  }
  function wait(fn, json, key, retries) {
    return new Promise(function (resolve) { setTimeout(resolve, 1000); })
      .then(function () { return fn(json, key, retries - 1); });
  }
  function confirmed(answer, body, noAgents) {
    state.request = answer;
    state.sent = null; // a new submission later gets a new key
    var at = new Date(answer.expected_call_at), by = new Date(answer.expected_call_by || answer.expected_call_at);
    var f = fmt({ weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
    var when = (+by - at > 60000 && f.formatRange ? f.formatRange(at, by) : f.format(at)) + ' (' + zoneName + ')';
    doneText.textContent = fill(T.expected, { t: when });
    refText.textContent = fill(T.ref, { id: answer.id });
    cancelBtn.hidden = !(answer.self_service && answer.self_service.cancel);
    cancelBtn.disabled = false;
    form.hidden = true;
    done.hidden = false;
    root.getElementById('rb-done-t').focus();
    var fields_ = assign(customer(body.phone), {
      lead: answer.id, leadGuid: answer.id, requestId: answer.id, status: answer.status, repeat: !!answer.repeat,
      expectedCallAt: answer.expected_call_at, expectedCallBy: answer.expected_call_by
    });
    if (answer.mode === 'scheduled' || body.mode === 'scheduled') {
      fields_.scheduledDate = body.scheduled_at;
      fields_.scheduledDateObj = new Date(body.scheduled_at);
    }
    if (body.mode === 'now' && answer.scheduled_for_next_opening && !noAgents) {
      emit('otoNoAgentsAvailable', assign({}, fields_, { problem: 'closed' }));
    }
    emit(MODE_EVENT[body.mode], fields_);
  }
  function cancel() {
    var request = state.request, link = request && request.self_service && request.self_service.cancel;
    if (!link) return;
    cancelBtn.disabled = true;
    fetch(link.url, { method: link.method || 'DELETE', credentials: 'omit' }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (answer) {
        if (!r.ok) throw new Error(answer.message || T.failed);
        doneText.textContent = T.cancelled;
        cancelBtn.hidden = true;
        root.getElementById('rb-done-t').focus();
        emit('ringbackCancelled', { lead: request.id, leadGuid: request.id, requestId: request.id,
          status: answer.status, webitel: answer.webitel });
      });
    }).catch(function (error) {
      cancelBtn.disabled = false;
      doneText.textContent = error.message && !/fetch/i.test(error.message) ? error.message : T.network;
    });
  }
  function reset() {
    state.request = null;
    form.reset();
    clearErrors();
    slotsBox.textContent = '';
    setMode(state.mode);
    done.hidden = true;
    form.hidden = false;
    root.querySelector('input[name=mode]:checked').focus();
  }

  // ---------------------------------------------------------------- public API
  var api = {
    version: VERSION,
    open: function (mode) { if (panel) open(mode); },
    close: function () { if (panel) close(); },
    on: function (name, fn) {
      (listeners[name] = listeners[name] || []).push(fn);
      return function () { api.off(name, fn); };
    },
    off: function (name, fn) {
      listeners[name] = (listeners[name] || []).filter(function (f) { return f !== fn; });
    },
    // mluvii-style: fn(phoneAsTyped) returns an international number, or null when it is not valid.
    setCustomNumberNormalization: function (fn) { normalize = typeof fn === 'function' ? fn : null; },
    refreshStatus: function () { return refreshStatus(); },
    get status() { return state.status; },
    get statusCode() { return state.code; }
  };
  win.ringbackWidget = api;

  function start() {
    build();
    refreshStatus();
    try { win.dispatchEvent(new CustomEvent('ringbackReady', { detail: { version: VERSION } })); } catch (e) { /* old */ }
    if (typeof win.ringbackWidgetOnLoad === 'function') win.ringbackWidgetOnLoad(api);
  }
  if (doc.body) start(); else doc.addEventListener('DOMContentLoaded', start);
})(window, document);
