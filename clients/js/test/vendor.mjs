// Calls to the fake vendor APIs, as an application under test would make them, with the
// credentials a Tenant gives (the client itself only makes sign-ins and control calls).

/** `method path` against the sandbox at `url`: `{status, body}`, the body parsed when JSON. */
export async function vendorCall(url, method, path, { headers = {}, body } = {}) {
  const response = await fetch(url + path, {
    method,
    headers: { Accept: "application/json", ...headers, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: response.status, body: parsed };
}

/** A Decoda patient of `tenant`, made through Decoda's API. */
export async function decodaPatient(url, tenant) {
  const made = await vendorCall(url, "POST", "/user/patient/create", {
    headers: tenant.decodaHeaders(),
    body: { firstName: "Ada", lastName: "Lovelace" },
  });
  if (made.status !== 200) throw new Error(`creating a patient answered ${made.status}: ${JSON.stringify(made.body)}`);
  return made.body;
}

/** A Decoda charge of 93.00 for a new patient of `tenant`. */
export async function decodaCharge(url, tenant) {
  const patient = await decodaPatient(url, tenant);
  const made = await vendorCall(url, "POST", "/billing/payment-terminal/charge/create", {
    headers: tenant.decodaHeaders(),
    body: { patientId: patient.id, totalOutstanding: 9300, items: [{ quantity: 2, price: 5000, discountAmount: 1000, taxAmount: 300 }] },
  });
  if (made.status !== 200) throw new Error(`creating a charge answered ${made.status}: ${JSON.stringify(made.body)}`);
  return made.body;
}

/** A cash payment settling a new charge of `tenant`. */
export async function decodaPayment(url, tenant) {
  const charge = await decodaCharge(url, tenant);
  const made = await vendorCall(url, "POST", "/billing/payment-terminal/charge/create-cash-settled?payment_medium=CASH&amount=9300", {
    headers: tenant.decodaHeaders(),
    body: [{ id: charge.id, patientId: charge.patientId, totalOutstanding: 9300 }],
  });
  if (made.status !== 200) throw new Error(`paying a charge answered ${made.status}: ${JSON.stringify(made.body)}`);
  return made.body;
}

/** Decoda's charge list for `tenant`: one journaled GET answered 200. */
export function listDecodaCharges(url, tenant) {
  return vendorCall(url, "GET", "/billing/charge/list", { headers: tenant.decodaHeaders() });
}
