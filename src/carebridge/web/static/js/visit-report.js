// The nurse's report form (/nurse/visits/{id}/report): loads the report (the report API's
// answer, through the page's route), fills the form, saves it whole (PUT) and submits it for
// review. What the server refuses is shown in its own words above the form; a report that may
// not be edited now (submitted, signed off) is shown read-only.
const form = document.getElementById("report-form");
const kinds = JSON.parse(document.getElementById("report-kinds")?.textContent || '{"kinds": []}').kinds;

if (form) {
  const csrf = form.querySelector("input[name=csrf_token]").value;
  const statusLine = document.getElementById("report-status");
  const changes = document.getElementById("report-changes");
  const errorLine = document.getElementById("report-error");
  const saveButton = document.getElementById("report-save");
  const submitButton = document.getElementById("report-submit");
  const vitalRows = document.getElementById("vital-rows");
  const medicationRows = document.getElementById("medication-rows");
  const byKind = new Map(kinds.map((k) => [k.kind, k]));
  const STATUS = {
    draft: "Draft",
    submitted: "Submitted: waiting for a doctor's review",
    changes_requested: "A doctor asked for changes",
    signed_off: "Signed off",
  };

  function showError(text) {
    errorLine.textContent = text || "";
    errorLine.hidden = !text;
  }

  function option(select, value, label) {
    const made = document.createElement("option");
    made.value = value;
    made.textContent = label;
    select.append(made);
  }

  function setUnits(row, kind, unit) {
    const spec = byKind.get(kind);
    const units = row.querySelector(".vital-unit");
    units.replaceChildren();
    for (const u of spec?.units || []) option(units, u.code, u.label);
    if (unit) units.value = unit;
    row.querySelector(".vital-second").hidden = !spec?.pair;
    row.querySelector(".vital-value-label").textContent = spec?.pair ? "Systolic" : "Value";
  }

  function addVital(vital) {
    const row = document.getElementById("vital-row").content.firstElementChild.cloneNode(true);
    const select = row.querySelector(".vital-kind");
    for (const k of kinds) option(select, k.kind, k.label);
    select.value = vital?.kind || kinds[0]?.kind;
    setUnits(row, select.value, vital?.unit);
    select.addEventListener("change", () => setUnits(row, select.value));
    row.querySelector(".vital-value").value = vital?.value ?? "";
    row.querySelector(".vital-value2").value = vital?.value2 ?? "";
    if (vital?.measured_at) row.dataset.measuredAt = vital.measured_at;
    row.querySelector(".remove-row").addEventListener("click", () => row.remove());
    vitalRows.append(row);
    return row;
  }

  function addMedication(given) {
    const row = document.getElementById("medication-row").content.firstElementChild.cloneNode(true);
    row.querySelector(".medication-name").value = given?.name || "";
    row.querySelector(".medication-dose").value = given?.dose || "";
    row.querySelector(".medication-route").value = given?.route || "";
    if (given?.at) row.dataset.at = given.at;
    row.querySelector(".remove-row").addEventListener("click", () => row.remove());
    medicationRows.append(row);
    return row;
  }

  const text = (value) => (value.trim() === "" ? null : value.trim());
  const number = (value) => (value.trim() === "" ? null : Number(value.replace(",", ".")));

  function body() {
    const vitals = [...vitalRows.children].map((row) => {
      const kind = row.querySelector(".vital-kind").value;
      const vital = { kind, value: number(row.querySelector(".vital-value").value), unit: row.querySelector(".vital-unit").value || null };
      if (byKind.get(kind)?.pair) vital.value2 = number(row.querySelector(".vital-value2").value);
      if (row.dataset.measuredAt) vital.measured_at = row.dataset.measuredAt;
      return vital;
    });
    const medications = [...medicationRows.children].map((row) => {
      const given = { name: text(row.querySelector(".medication-name").value), dose: text(row.querySelector(".medication-dose").value), route: text(row.querySelector(".medication-route").value) };
      if (row.dataset.at) given.at = row.dataset.at;
      return given;
    });
    return {
      vitals,
      interventions: form.elements.interventions.value.split("\n").map((line) => line.trim()).filter(Boolean),
      medications_given: medications,
      observations: text(form.elements.observations.value),
      recommendations: text(form.elements.recommendations.value),
    };
  }

  function show(report) {
    vitalRows.replaceChildren();
    medicationRows.replaceChildren();
    for (const vital of report.vitals) addVital(vital);
    for (const given of report.medications_given) addMedication(given);
    form.elements.interventions.value = report.interventions.join("\n");
    form.elements.observations.value = report.observations || "";
    form.elements.recommendations.value = report.recommendations || "";
    const editable = report.actions.includes("edit");
    for (const field of form.querySelectorAll("input:not([type=hidden]), select, textarea, fieldset button")) field.disabled = !editable;
    saveButton.disabled = !editable;
    submitButton.disabled = !report.actions.includes("submit");
    statusLine.textContent = `${STATUS[report.status] || report.status}${report.version ? `, version ${report.version}` : ""}.`;
    statusLine.dataset.status = report.status;
    changes.hidden = !report.changes_requested;
    changes.textContent = report.changes_requested ? `Changes asked: ${report.changes_requested}` : "";
  }

  async function call(method, url, payload) {
    showError("");
    let response;
    try {
      response = await fetch(url, {
        method,
        credentials: "same-origin",
        headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: payload === undefined ? undefined : JSON.stringify(payload),
      });
    } catch {
      showError("CareBridge cannot be reached; check your connection and try again.");
      return null;
    }
    const answer = await response.json().catch(() => null);
    if (!response.ok) {
      showError(answer?.detail || `The report could not be ${method === "GET" ? "loaded" : "saved"} (${response.status}).`);
      return null;
    }
    return answer;
  }

  async function load() {
    const report = await call("GET", form.dataset.src);
    if (report) show(report);
    else statusLine.textContent = "";
  }

  document.getElementById("add-vital").addEventListener("click", () => addVital(null).querySelector("input").focus());
  document.getElementById("add-medication").addEventListener("click", () => addMedication(null).querySelector("input").focus());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    saveButton.disabled = true;
    const report = await call("PUT", form.dataset.src, body());
    saveButton.disabled = false;
    if (report) {
      show(report);
      statusLine.textContent = `Saved. ${statusLine.textContent}`;
    }
  });
  submitButton.addEventListener("click", async () => {
    submitButton.disabled = true;
    const saved = await call("PUT", form.dataset.src, body());
    const report = saved && (await call("POST", form.dataset.submit));
    if (report) show(report);
    else submitButton.disabled = false;
  });
  load();
}
