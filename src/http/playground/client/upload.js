// The playground's upload box: drop (or pick) a file, post it to the proxy's own
// `/api/v1/files/upload` with the private API key typed here (Basic auth, as ImageKit's server
// SDKs do), show the progress and the answer, then play the returned url. The key stays in this
// page (sessionStorage at most); answers reach the DOM through `textContent` and properties only.

/**
 * The element with `id`, checked to be a `type`.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {{ new (): T, prototype: T, name: string }} type
 * @returns {T}
 */
function byId(id, type) {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`#${id} is missing or is not a ${type.name}`);
  return element;
}

const box = {
  zone: byId('upload-zone', HTMLElement),
  input: byId('upload-file', HTMLInputElement),
  key: byId('upload-key', HTMLInputElement),
  folder: byId('upload-folder', HTMLInputElement),
  progress: byId('upload-progress', HTMLProgressElement),
  status: byId('upload-status', HTMLElement),
  answer: byId('upload-answer', HTMLElement),
  video: byId('upload-video', HTMLVideoElement),
};

const config = JSON.parse(byId('playground-config', HTMLScriptElement).text);
/** @type {string} */
const base = typeof config.basePath === 'string' ? config.basePath : '';
const KEY_STORAGE = 'ik-playground-api-key';
box.key.value = sessionStorage.getItem(KEY_STORAGE) ?? '';

/**
 * Shows a line of status (an error in red).
 * @param {string} text
 * @param {boolean} [error]
 */
function say(text, error = false) {
  box.status.textContent = text;
  box.status.classList.toggle('error', error);
}

/**
 * Posts `file` with XHR (fetch has no upload progress) and resolves with the parsed answer.
 * @param {File} file
 * @returns {Promise<Record<string, unknown>>}
 */
function send(file) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append('file', file, file.name);
    form.append('fileName', file.name);
    if (box.folder.value.trim() !== '') form.append('folder', box.folder.value.trim());
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${base}/api/v1/files/upload`);
    xhr.setRequestHeader('Authorization', `Basic ${btoa(`${box.key.value}:`)}`);
    xhr.upload.onprogress = (event) => {
      if (!event.lengthComputable) return;
      box.progress.max = event.total;
      box.progress.value = event.loaded;
    };
    xhr.onerror = () => reject(new Error('The upload failed (network error)'));
    xhr.onload = () => {
      /** @type {Record<string, unknown>} */
      let body = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = {};
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else
        reject(
          new Error(`${xhr.status}: ${typeof body.message === 'string' ? body.message : 'upload refused'}`),
        );
    };
    xhr.send(form);
  });
}

/** @param {File | undefined} file */
async function upload(file) {
  if (!file) return;
  if (box.key.value === '') {
    say('Type the private API key (API_PRIVATE_KEY) first.', true);
    return;
  }
  sessionStorage.setItem(KEY_STORAGE, box.key.value);
  box.progress.value = 0;
  box.answer.textContent = '';
  box.video.removeAttribute('src');
  say(`Uploading ${file.name} ...`);
  try {
    const answer = await send(file);
    box.progress.value = box.progress.max;
    box.answer.textContent = JSON.stringify(answer, null, 2);
    say(`Stored as ${String(answer.filePath)}`);
    if (typeof answer.url === 'string' && answer.fileType !== 'image') {
      box.video.src = answer.url;
      box.video.play().catch(() => undefined);
    }
  } catch (error) {
    say(error instanceof Error ? error.message : String(error), true);
  }
}

box.input.addEventListener('change', () => void upload(box.input.files?.[0]));
box.zone.addEventListener('dragover', (event) => {
  event.preventDefault();
  box.zone.classList.add('over');
});
box.zone.addEventListener('dragleave', () => box.zone.classList.remove('over'));
box.zone.addEventListener('drop', (event) => {
  event.preventDefault();
  box.zone.classList.remove('over');
  void upload(event.dataTransfer?.files[0]);
});
