import type { BrowserClass } from '../../src/plan/browser-class.js';

/**
 * Twenty real browser `User-Agent` strings and the class (so the `f-auto` format) each must get,
 * shared by every CDN test: the proxy's rules, nginx, Varnish and the CloudFront Function.
 */
export const BROWSERS: ReadonlyArray<{ name: string; userAgent: string; expected: BrowserClass }> = [
  {
    name: 'Chrome 120, Windows',
    userAgent:
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    expected: 'webm',
  },
  {
    name: 'Chrome 119, macOS',
    userAgent:
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36',
    expected: 'webm',
  },
  {
    name: 'Chrome 118, Linux',
    userAgent:
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36',
    expected: 'webm',
  },
  {
    name: 'Chrome 120, Android',
    userAgent:
      'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36',
    expected: 'webm',
  },
  {
    name: 'Firefox 121, Windows',
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0',
    expected: 'webm',
  },
  {
    name: 'Firefox 120, macOS',
    userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:120.0) Gecko/20100101 Firefox/120.0',
    expected: 'webm',
  },
  {
    name: 'Firefox 121, Android',
    userAgent: 'Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0',
    expected: 'webm',
  },
  {
    name: 'Edge 120, Windows',
    userAgent:
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0',
    expected: 'webm',
  },
  {
    name: 'Opera 105, Windows',
    userAgent:
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0',
    expected: 'webm',
  },
  {
    name: 'Samsung Internet 23, Android',
    userAgent:
      'Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36',
    expected: 'webm',
  },
  {
    name: 'Android WebView',
    userAgent:
      'Mozilla/5.0 (Linux; Android 12; Pixel 6 Build/SD1A.210817.023; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/94.0.4606.71 Mobile Safari/537.36',
    expected: 'webm',
  },
  {
    name: 'Safari 17, macOS',
    userAgent:
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15',
    expected: 'mp4',
  },
  {
    name: 'Safari 16, iPadOS desktop mode',
    userAgent:
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Safari/605.1.15',
    expected: 'mp4',
  },
  {
    name: 'Safari 17, iPhone',
    userAgent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
    expected: 'mp4',
  },
  {
    name: 'Safari 16, iPad',
    userAgent:
      'Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1',
    expected: 'mp4',
  },
  {
    name: 'Chrome on iPhone',
    userAgent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.101 Mobile/15E148 Safari/604.1',
    expected: 'mp4',
  },
  {
    name: 'Firefox on iPhone',
    userAgent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/120.0 Mobile/15E148 Safari/605.1.15',
    expected: 'mp4',
  },
  {
    name: 'Edge on iPhone',
    userAgent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 EdgiOS/120.0.2210.84 Mobile/15E148 Safari/605.1.15',
    expected: 'mp4',
  },
  {
    name: 'Facebook in-app browser, iPhone',
    userAgent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/439.0.0.29.119;FBBV/541412397;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/16.6;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]',
    expected: 'mp4',
  },
  {
    name: 'Internet Explorer 11, Windows',
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko',
    expected: 'mp4',
  },
];

/** The number of distinct classes among {@link BROWSERS}. */
export const CLASS_COUNT = new Set(BROWSERS.map((browser) => browser.expected)).size;
