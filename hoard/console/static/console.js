// Hoard console: the little the pages need beyond forms. No inline scripts (the CSP forbids them).
"use strict";

const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

// Forms that destroy something ask first.
document.querySelectorAll("form.confirm").forEach((form) => {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
});

// Copy buttons: the text of the input they name.
document.querySelectorAll("button.copy").forEach((button) => {
  button.addEventListener("click", async () => {
    const input = document.getElementById(button.dataset.copy);
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
    } catch (e) {
      document.execCommand("copy");
    }
    button.textContent = "Copied";
  });
});

// JSON editors (bucket and IAM policies, lifecycle rules): the text checked as it is typed, and
// templates to start from. Each textarea names its parts by id: data-check (where the verdict goes),
// data-templates (a select whose data-templates holds the documents), data-empty (what an empty
// text means, if it may be empty), data-what (what the server checks beyond the JSON).
document.querySelectorAll("textarea[data-check]").forEach((editor) => {
  const check = document.getElementById(editor.dataset.check);
  const select = editor.dataset.templates ? document.getElementById(editor.dataset.templates) : null;
  const templates = select ? JSON.parse(select.dataset.templates) : {};
  const validate = () => {
    if (!editor.value.trim()) {
      check.textContent = editor.dataset.empty || "Empty: write a JSON document.";
      check.className = editor.dataset.empty ? "hint" : "hint error";
      return true;
    }
    try {
      JSON.parse(editor.value);
      check.textContent = "Valid JSON; the server checks " + (editor.dataset.what || "the rest") + " when it is saved.";
      check.className = "hint ok";
      return true;
    } catch (e) {
      check.textContent = "Not valid JSON: " + e.message;
      check.className = "hint error";
      return false;
    }
  };
  if (select) {
    select.addEventListener("change", () => {
      if (select.value && templates[select.value]) {
        editor.value = JSON.stringify(templates[select.value], null, 2);
        validate();
      }
    });
  }
  editor.addEventListener("input", validate);
  validate();
});

// Uploads: each file on its own, with a progress bar; large files in parts, one request each.
const upload = document.getElementById("upload");
if (upload) {
  const bucket = upload.dataset.bucket;
  const prefix = upload.dataset.prefix;
  const list = document.getElementById("progress");
  const api = (what, params) => "/api/upload/" + encodeURIComponent(bucket) + "/" + what + "?" + new URLSearchParams(params);

  const send = (method, target, body, onProgress) => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, target);
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    if (body instanceof Blob) xhr.setRequestHeader("Content-Type", "application/octet-stream");
    else if (body) xhr.setRequestHeader("Content-Type", "application/json");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable && onProgress) onProgress(e.loaded); };
    xhr.onload = () => {
      let answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: the status says it */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(answer);
      else reject(new Error(answer.error || ("HTTP " + xhr.status)));
    };
    xhr.onerror = () => reject(new Error("the connection failed"));
    xhr.send(body || null);
  });

  const uploadOne = async (file) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    const bar = document.createElement("progress");
    const state = document.createElement("span");
    name.textContent = file.name + " ";
    bar.max = file.size || 1;
    bar.value = 0;
    state.className = "state";
    state.textContent = " 0%";
    item.append(name, bar, state);
    item.dataset.file = file.name;
    list.append(item);
    const show = (done) => { bar.value = done; state.textContent = " " + Math.floor(100 * done / (file.size || 1)) + "%"; };
    const key = prefix + file.name;
    const type = file.type || "application/octet-stream";
    try {
      const plan = await send("POST", api("start", { key, size: file.size, type }));
      if (plan.mode === "single") {
        await send("PUT", api("single", { key, type }), file, show);
      } else {
        const parts = [];
        let sent = 0;
        try {
          for (let start = 0, n = 1; start < file.size; start += plan.part_size, n++) {
            const piece = file.slice(start, start + plan.part_size);
            const answer = await send("PUT", api("part", { key, upload_id: plan.upload_id, part: n }), piece, (done) => show(sent + done));
            sent += piece.size;
            parts.push({ part: n, etag: answer.etag });
          }
          await send("POST", api("complete", { key, upload_id: plan.upload_id }), JSON.stringify(parts));
        } catch (e) {
          await send("POST", api("abort", { key, upload_id: plan.upload_id })).catch(() => {});
          throw e;
        }
      }
      show(file.size);
      state.textContent = " done";
      item.className = "done";
    } catch (e) {
      state.textContent = " failed: " + e.message;
      item.className = "failed";
    }
  };

  const start = async (files) => {
    await Promise.all(Array.from(files).map(uploadOne));
    const reload = document.createElement("a");
    reload.href = window.location.href;
    reload.textContent = "Refresh the list";
    reload.id = "uploads-finished";
    list.append(reload);
  };

  document.getElementById("files").addEventListener("change", (e) => start(e.target.files));
  const drop = document.getElementById("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); start(e.dataTransfer.files); });
}
