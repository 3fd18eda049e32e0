import type { components } from "@baseplate/sdk";
import type { ComponentChildren } from "preact";
import { Badge, money, Time } from "./ui.js";

type Invoice = components["schemas"]["Invoice"];

/**
 * InvoiceTable lists invoices (number, period, status, total, amount due), as the console's tenant
 * page and the tenant portal both show them; `document` adds a cell per invoice (the console's PDF).
 */
export function InvoiceTable({
  invoices,
  document,
}: {
  invoices: Invoice[];
  document?: (invoice: Invoice) => ComponentChildren;
}) {
  return (
    <table class="table">
      <caption class="visually-hidden">Invoices</caption>
      <thead>
        <tr>
          <th scope="col">Number</th>
          <th scope="col">Period</th>
          <th scope="col">Status</th>
          <th scope="col">Total</th>
          <th scope="col">Due</th>
          {document && <th scope="col">Document</th>}
        </tr>
      </thead>
      <tbody>
        {invoices.map((i) => (
          <tr key={i.id}>
            <td>{i.number ?? <code>{i.id}</code>}</td>
            <td>
              <Time iso={i.periodStart} /> – <Time iso={i.periodEnd} />
            </td>
            <td>
              <Badge tone={i.status === "paid" ? "good" : i.status === "finalized" ? "warn" : "neutral"}>
                {i.status}
              </Badge>
            </td>
            <td>{money(i.total, i.currency)}</td>
            <td>{money(i.amountDue, i.currency)}</td>
            {document && <td>{document(i)}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
