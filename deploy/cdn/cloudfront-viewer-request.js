// CloudFront Function for ik-video-proxy (runtime cloudfront-js-2.0, event type: viewer request).
// Associate it with the cache behavior whose cache policy keys on the query strings tr, ik-s and
// ik-t and the User-Agent header (docs/cdn.md). Tested under Node by test/cdn/cloudfront.test.ts.
//
// 1. Drops every query string but tr, ik-s and ik-t: nothing else reaches a response.
// 2. Rewrites an unsigned tr to its canonical spelling (one parameter set, parameters in the
//    proxy's order, no percent-encoding), so `w-202,f-mp4`, `f-mp4,w-202`, `f-mp4:w-202` and
//    `w-202%2Cf-mp4` are one cached object. A signed URL is left exactly as it came: its
//    signature covers the exact string. tr with layers or named transformations is left alone.
// 3. For f-auto URLs, replaces User-Agent with the browser class the proxy reads
//    (src/plan/browser-class.ts): two browsers of one class send identical requests. Every other
//    URL gets one constant User-Agent, so it stays one object for all browsers.

var KEY_QUERY = ['tr', 'ik-s', 'ik-t'];
// src/url/params.ts PARAM_ORDER.
var PARAM_ORDER = ['w', 'h', 'ar', 'c', 'cm', 'fo', 'bg', 'b', 'r', 'rt', 'q', 'f', 'vc', 'ac', 'so', 'eo', 'du', 'sr', 'orig'];
var MP4_ONLY = /iPhone|iPad|iPod/;
var WEBM = /Firefox\/|Chrome\/|Chromium\/|Edg\/|OPR\//;
var CLASS_USER_AGENT_PREFIX = 'ik-video-proxy-class/';
var OTHER_USER_AGENT = 'ik-video-proxy-class/any';

function browserClass(userAgent) {
  if (!userAgent) return 'mp4';
  if (MP4_ONLY.test(userAgent)) return 'mp4';
  if (WEBM.test(userAgent)) return 'webm';
  return 'mp4';
}

function decode(text) {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch (e) {
    return undefined;
  }
}

// The canonical spelling of a tr value, or undefined to leave it as it came.
function canonicalTr(raw) {
  var tr = decode(raw);
  if (tr === undefined || tr === '') return undefined;
  var byKey = {};
  var steps = tr.split(':');
  for (var i = 0; i < steps.length; i++) {
    var params = steps[i].split(',');
    for (var j = 0; j < params.length; j++) {
      var param = params[j];
      var dash = param.indexOf('-');
      var key = dash < 0 ? param : param.slice(0, dash);
      // Unknown keys (layers, named transformations, typos) and repeats: the proxy decides.
      if (PARAM_ORDER.indexOf(key) < 0 || byKey[key] !== undefined) return undefined;
      byKey[key] = param;
    }
  }
  var out = [];
  for (var k = 0; k < PARAM_ORDER.length; k++) {
    if (byKey[PARAM_ORDER[k]] !== undefined) out.push(byKey[PARAM_ORDER[k]]);
  }
  return out.join(',');
}

function encodeTr(tr) {
  return encodeURIComponent(tr).replace(/%2C/g, ',').replace(/%3A/g, ':');
}

function handler(event) {
  var request = event.request;
  var query = request.querystring || {};
  var kept = {};
  for (var i = 0; i < KEY_QUERY.length; i++) {
    var name = KEY_QUERY[i];
    if (query[name]) kept[name] = { value: query[name].value };
  }
  var signed = kept['ik-s'] !== undefined;
  if (kept.tr && !signed) {
    var canonical = canonicalTr(kept.tr.value);
    if (canonical !== undefined) kept.tr = { value: encodeTr(canonical) };
  }
  var uri = request.uri;
  if (!signed) {
    // The path form: /tr:w-202,f-mp4/clip.mp4 (the first path segment).
    var path = /^\/tr:([^/]*)(\/.*)$/.exec(uri);
    if (path) {
      var inPath = canonicalTr(path[1]);
      if (inPath !== undefined) uri = '/tr:' + encodeTr(inPath) + path[2];
    }
  }
  request.uri = uri;
  request.querystring = kept;
  var trText = (kept.tr && kept.tr.value) || '';
  var auto = trText.indexOf('f-auto') >= 0 || uri.indexOf('f-auto') >= 0;
  var agent = request.headers['user-agent'];
  request.headers['user-agent'] = {
    value: auto ? CLASS_USER_AGENT_PREFIX + browserClass(agent && agent.value) : OTHER_USER_AGENT,
  };
  return request;
}
