vcl 4.1;

# Varnish in front of ik-video-proxy (Varnish 7.1+, no vmods). Copy it and change the backend's
# .host and .port (each written exactly once). Tested as shipped by test/cdn/varnish.test.ts;
# see docs/cdn.md.
#
# What it relies on from the proxy:
# - a complete output carries CACHE_CONTROL (one year by default), Content-Length, a strong ETag
#   and Last-Modified: stored, ranges served from it (206), revalidated with If-None-Match (304);
# - an output still encoding is streamed with `Cache-Control: no-store` and
#   `Cache-Status: ...; detail=streaming`: passed to the viewer at once (a ranged viewer too, as
#   a 200), never stored; the next request after the encode stores the complete output;
# - a signed URL's answer is fresh only until its ik-t (no grace here either); errors are no-store.

backend ik_video_proxy {
  .host = "127.0.0.1";
  .port = "8080";
  .connect_timeout = 2s;
  # A first encode streams from its first second; a long source needs long timeouts.
  .first_byte_timeout = 120s;
  .between_bytes_timeout = 60s;
}

sub vcl_recv {
  if (req.method != "GET" && req.method != "HEAD") {
    return (pass);
  }
  # Operator endpoints stay inside.
  if (req.url ~ "^/(metrics|playground)") {
    return (synth(404));
  }
  # Nothing but the path and tr / ik-s / ik-t reaches a response.
  unset req.http.Cookie;
  unset req.http.Authorization;
  # The browser class (src/plan/browser-class.ts), only for URLs that ask for f-auto; the proxy
  # is sent the class, not the browser string, so `Vary: User-Agent` sees one value per class.
  unset req.http.X-Ikvp-Class;
  if (req.url ~ "f-auto") {
    if (req.http.User-Agent ~ "iPhone|iPad|iPod") {
      set req.http.X-Ikvp-Class = "mp4";
    } elsif (req.http.User-Agent ~ "Firefox/|Chrome/|Chromium/|Edg/|OPR/") {
      set req.http.X-Ikvp-Class = "webm";
    } else {
      set req.http.X-Ikvp-Class = "mp4";
    }
    set req.http.User-Agent = "ik-video-proxy-class/" + req.http.X-Ikvp-Class;
  } else {
    # One constant for every other URL: an f-auto this test cannot see (`f%2Dauto`, a named
    # transformation) is one object with one format, not one copy per browser string.
    set req.http.User-Agent = "ik-video-proxy-class/any";
  }
  # Range: on a miss Varnish fetches the whole object (without the range) and answers ranges
  # from it once it has a length. An output still encoding has none yet; it streams to the
  # ranged viewer as a 200 at once. (Passing the range to the proxy does not help here: the
  # proxy's answer from a growing output is `206 bytes a-b/*`, whose unknown total Varnish 7.1
  # refuses as an "Invalid content-range header"; the proxy answers requests that come through
  # a cache, with `Via`, with the same 200.)
  return (hash);
}

sub vcl_hash {
  hash_data(regsub(req.url, "\?.*$", ""));
  if (req.url ~ "[?&]tr=") {
    hash_data("tr=" + regsub(req.url, "^[^?]*\?(?:.*&)?tr=([^&]*).*$", "\1"));
  }
  if (req.url ~ "[?&]ik-s=") {
    hash_data("ik-s=" + regsub(req.url, "^[^?]*\?(?:.*&)?ik-s=([^&]*).*$", "\1"));
  }
  if (req.url ~ "[?&]ik-t=") {
    hash_data("ik-t=" + regsub(req.url, "^[^?]*\?(?:.*&)?ik-t=([^&]*).*$", "\1"));
  }
  if (req.http.X-Ikvp-Class) {
    hash_data("class=" + req.http.X-Ikvp-Class);
  }
  return (lookup);
}

sub vcl_backend_response {
  # X-Cache is the proxy's own tier label; a stored copy would replay it. Cache-Status says it.
  unset beresp.http.X-Cache;
  if (beresp.status >= 500) {
    # Never stored, not even as a marker: the next request asks the proxy again.
    set beresp.ttl = 0s;
    set beresp.grace = 0s;
    set beresp.uncacheable = true;
    return (deliver);
  }
  if (beresp.http.Cache-Status ~ "detail=streaming") {
    # Still encoding: no length, so no ranges could be served from it later. Not stored (the
    # proxy says no-store too); the next request after the encode stores the complete output.
    set beresp.ttl = 1s;
    set beresp.grace = 0s;
    set beresp.uncacheable = true;
    return (deliver);
  }
  if (bereq.url ~ "[?&]ik-t=") {
    # A signed answer is never served past its ik-t, not even stale.
    set beresp.grace = 0s;
  } else {
    # Outputs never change under one URL: serving one stale while it is revalidated is safe.
    set beresp.grace = 1h;
  }
  # Kept past its TTL so it can be revalidated with If-None-Match (a 304) instead of refetched.
  set beresp.keep = 7d;
  # Then the built-in rules: no-store / private / no TTL are not stored.
}

sub vcl_deliver {
  unset resp.http.X-Cache;
  unset resp.http.X-Ikvp-Class;
  # RFC 9211: Varnish's entry follows the proxy's own.
  if (obj.hits > 0) {
    set resp.http.X-Ikvp-Status = "varnish; hit";
  } else {
    set resp.http.X-Ikvp-Status = "varnish; fwd=miss";
  }
  if (resp.http.Cache-Status) {
    set resp.http.Cache-Status = resp.http.Cache-Status + ", " + resp.http.X-Ikvp-Status;
  } else {
    set resp.http.Cache-Status = resp.http.X-Ikvp-Status;
  }
  unset resp.http.X-Ikvp-Status;
}
