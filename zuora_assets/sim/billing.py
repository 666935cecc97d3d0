"""Generated billing documents of a tenant: invoices and their lines, payments, refunds, memos, usage, bill runs."""

from __future__ import annotations

import numpy as np

from zuora_assets.sim import columns as col
from zuora_assets.sim.compact import compact, scaled
from zuora_assets.sim.records import Groups, RecordBuilder, Records
from zuora_assets.sim.timeline import DAY_MS

HOUR_MS = 3_600_000


class BillingBuilder(RecordBuilder):
    """Builds the billing documents once the catalog, accounts and subscriptions exist."""

    accounts: int
    days: int
    forced_items: int | None
    sub_account: np.ndarray
    default_pm: np.ndarray
    rpc_plan: np.ndarray
    rp_product_plan: np.ndarray

    # ----- invoices and their lines -----

    def _invoices(self) -> None:
        rng = self.rng
        n = self.accounts * max(2, self.days // 7)
        account, created = self._existing("Account", np.sort(self.clock.spread(rng, n)))
        order = np.argsort(created, kind="stable")
        account, created = account[order], created[order]
        inv = self._new("Invoice", created)
        self._fk(inv, "AccountId", "Account", account)
        self._copy(inv, "Currency", "Account", account)
        inv.cols.update(InvoiceNumber=self.values.numbers("Invoice", "InvoiceNumber", n), InvoiceDate=col.dates(created),
                        DueDate=self.values.days_after(created, 30),
                        PostedDate=col.timestamps(self.clock.values_after(rng, created, 2 * HOUR_MS, 0.1)))
        self.invoice_account = account
        self._invoice_items(inv)
        self._invoice_item_children(inv)

    def _invoice_items(self, inv: Records) -> None:
        rng = self.rng
        if self.forced_items is None:
            per_invoice = 1 + rng.integers(0, 6, size=inv.n)
            item_inv = np.repeat(np.arange(inv.n), per_invoice)
        else:
            item_inv = np.sort(rng.integers(0, inv.n, size=self.forced_items))
        item = self._new("InvoiceItem", inv.created[item_inv])
        account = self.invoice_account[item_inv]
        sub_idx = Groups.of(self.sub_account, self.accounts).pick(rng, account)
        rpc_idx = Groups.of(self.r["RatePlanCharge"].parents["SubscriptionId"][1], self.r["Subscription"].n).pick(
            rng, np.maximum(sub_idx, 0))
        rpc_idx = np.where(sub_idx >= 0, rpc_idx, -1)
        self._fk(item, "InvoiceId", "Invoice", item_inv)
        self._fk(item, "AccountId", "Account", account)
        self._fk(item, "SubscriptionId", "Subscription", sub_idx)
        self._fk(item, "RatePlanChargeId", "RatePlanCharge", rpc_idx)
        self._catalog_keys(item, rpc_idx)
        self._copy(item, "ChargeName", "RatePlanCharge", rpc_idx, "Name")
        self._copy(item, "ChargeNumber", "RatePlanCharge", rpc_idx)
        self._copy(item, "UOM", "RatePlanCharge", rpc_idx)
        self._copy(item, "SubscriptionNumber", "Subscription", sub_idx, "Name")
        price = rng.integers(100, 5_000_000, size=item.n)  # 4 decimal places
        qty = rng.integers(1, 20_000, size=item.n)  # 3 decimal places
        item.cols.update({name: compact(values) for name, values in dict(  # the biggest model: stored compactly now
            UnitPrice=scaled(price, 4), Quantity=scaled(qty, 3), ChargeAmount=scaled(price * qty, 7),
            ChargeDate=col.timestamps(self.clock.values_after(rng, item.created, 0, 0.05)),
            ServiceStartDate=col.dates(item.created), ServiceEndDate=self.values.days_after(item.created, 30)).items()})

    def _catalog_keys(self, item: Records, rpc_idx: np.ndarray) -> None:
        """An invoice item's rate plan and product catalog keys, as those of its subscription charge."""
        has = rpc_idx >= 0
        safe = np.maximum(rpc_idx, 0)
        rp = np.where(has, self.rpc_plan[safe], -1)
        prpc = np.where(has, self.r["RatePlanCharge"].parents["ProductRatePlanChargeId"][1][safe], -1)
        prp = np.where(has, self.rp_product_plan[np.maximum(rp, 0)], -1)
        product = np.where(has, self.r["ProductRatePlan"].parents["ProductId"][1][np.maximum(prp, 0)], -1)
        self._fk(item, "RatePlanId", "RatePlan", rp)
        self._fk(item, "ProductRatePlanChargeId", "ProductRatePlanCharge", prpc)
        self._fk(item, "ProductRatePlanId", "ProductRatePlan", prp)
        self._fk(item, "ProductId", "Product", product)

    def _invoice_item_children(self, inv: Records) -> None:
        rng, item = self.rng, self.r["InvoiceItem"]
        item_inv = item.parents["InvoiceId"][1]
        n_tax = min(2 * inv.n, item.n)
        tax_item = np.sort(rng.choice(item.n, size=n_tax, replace=False)) if n_tax else np.zeros(0, dtype=np.int64)
        tax = self._new("TaxationItem", self.clock.after(rng, item.created[tax_item], 60_000))
        self._fk(tax, "InvoiceItemId", "InvoiceItem", tax_item)
        self._fk(tax, "InvoiceId", "Invoice", item_inv[tax_item])
        tax.cols.update(Name=col.pick(rng, ("Sales Tax", "VAT", "GST"), tax.n), TaxDate=col.dates(tax.created))
        n_adj = min(inv.n // 8 + 1, item.n)
        adj_item = rng.integers(0, item.n, size=n_adj) if item.n else np.zeros(0, dtype=np.int64)
        adj = self._new("InvoiceItemAdjustment", self.clock.after(rng, item.created[adj_item], 10 * DAY_MS))
        self._fk(adj, "SourceId", "InvoiceItem", adj_item)
        self._fk(adj, "InvoiceId", "Invoice", item_inv[adj_item])
        self._fk(adj, "AccountId", "Account", self.invoice_account[item_inv[adj_item]])
        adj.cols.update(AdjustmentNumber=self.values.numbers("InvoiceItemAdjustment", "AdjustmentNumber", n_adj),
                        AdjustmentDate=col.dates(adj.created))

    # ----- payments, refunds -----

    def _payments(self) -> None:
        rng, inv = self.rng, self.r["Invoice"]
        n = max(1, int(inv.n * 0.7))
        paid, created = self._existing("Invoice", np.sort(self.clock.spread(rng, n)))
        account = self.invoice_account[paid]
        pay = self._new("Payment", created)
        self._fk(pay, "AccountId", "Account", account)
        self._fk(pay, "PaymentMethodId", "PaymentMethod", self.default_pm[account])
        self._copy(pay, "Currency", "Account", account)
        pay.cols.update(PaymentNumber=self.values.numbers("Payment", "PaymentNumber", n), EffectiveDate=col.dates(pay.created),
                        SubmittedOn=col.timestamps(self.clock.values_after(rng, pay.created, HOUR_MS)))
        ip = self._new("InvoicePayment", pay.created)
        self._fk(ip, "InvoiceId", "Invoice", paid)
        self._fk(ip, "PaymentId", "Payment", np.arange(n))
        ip.cols["Amount"] = pay.cols["Amount"] = self.values.money(n)
        refunded = rng.integers(0, n, size=n // 8 + 1)
        ref = self._new("Refund", self.clock.after(rng, pay.created[refunded], 10 * DAY_MS))
        self._fk(ref, "AccountId", "Account", account[refunded])
        self._fk(ref, "PaymentMethodId", "PaymentMethod", self.default_pm[account[refunded]])
        self._copy(ref, "Currency", "Account", account[refunded])
        ref.cols.update(RefundNumber=self.values.numbers("Refund", "RefundNumber", ref.n), RefundDate=col.dates(ref.created),
                        RefundTransactionTime=col.timestamps(self.clock.values_after(rng, ref.created, HOUR_MS)))

    # ----- credit and debit memos -----

    def _memos(self) -> None:
        items_by_invoice = Groups.of(self.r["InvoiceItem"].parents["InvoiceId"][1], self.r["Invoice"].n)
        subs_by_account = Groups.of(self.sub_account, self.accounts)
        self._memo("CreditMemo", 10, "CreditFromItemId", "InvoiceItem", items_by_invoice, by_invoice=True)
        self._memo("DebitMemo", 20, "SubscriptionId", "Subscription", subs_by_account, by_invoice=False)

    def _memo(self, obj: str, one_in: int, line_fk: str, line_target: str, groups: Groups, by_invoice: bool) -> None:
        rng, inv = self.rng, self.r["Invoice"]
        n = inv.n // one_in + 1
        invoice = rng.integers(0, inv.n, size=n)
        account = self.invoice_account[invoice]
        memo = self._new(obj, self.clock.after(rng, inv.created[invoice], 10 * DAY_MS))
        self._fk(memo, "AccountId", "Account", account)
        self._fk(memo, "InvoiceId", "Invoice", invoice)
        self._copy(memo, "Currency", "Account", account)
        memo.cols.update(MemoNumber=self.values.numbers(obj, "MemoNumber", n), MemoDate=col.dates(memo.created),
                         PostedOn=col.timestamps(self.clock.values_after(rng, memo.created, HOUR_MS)))
        lines = 1 + (rng.random(n) < 0.5)
        line_memo = np.repeat(np.arange(n), lines)
        line = self._new(f"{obj}Item", memo.created[line_memo])
        self._fk(line, f"{obj}Id", obj, line_memo)
        owners = invoice[line_memo] if by_invoice else account[line_memo]
        self._fk(line, line_fk, line_target, groups.pick(rng, owners))
        line.cols.update(ServiceStartDate=col.dates(line.created), ServiceEndDate=self.values.days_after(line.created, 30),
                         ChargeDate=col.timestamps(line.created))

    # ----- usage, bill runs, journal entries -----

    def _misc(self) -> None:
        rng, acc = self.rng, self.r["Account"]
        account, created = self._existing("Account", np.sort(self.clock.spread(rng, 4 * self.accounts)))
        usage = self._new("Usage", created)
        sub_idx = Groups.of(self.sub_account, self.accounts).pick(rng, account)
        self._fk(usage, "AccountId", "Account", account)
        self._fk(usage, "SubscriptionId", "Subscription", sub_idx)
        self._copy(usage, "AccountNumber", "Account", account)
        self._copy(usage, "SubscriptionNumber", "Subscription", sub_idx, "Name")
        usage.cols.update(StartDateTime=col.timestamps(created - DAY_MS), EndDateTime=col.timestamps(created),
                          SubmissionDateTime=col.timestamps(self.clock.values_after(rng, created, HOUR_MS)),
                          UniqueKey=col.numbered("U-", np.arange(usage.n)))
        runs = self._new("BillingRun", np.sort(self.clock.spread(rng, self.days + 2)))
        single, _ = self._existing("Account", runs.created)
        self._fk(runs, "AccountId", "Account", np.where(rng.random(runs.n) < 0.2, single, -1))
        runs.cols.update(BillingRunNumber=self.values.numbers("BillingRun", "BillingRunNumber", runs.n),
                         TargetDate=col.dates(runs.created), InvoiceDate=col.dates(runs.created),
                         NumberOfAccounts=col.integers(rng.integers(1, acc.n + 1, size=runs.n)))
        je = self._new("JournalEntry", np.sort(self.clock.spread(rng, 2 * self.days)))
        je.cols.update(Number=self.values.numbers("JournalEntry", "Number", je.n), JournalEntryDate=col.dates(je.created),
                       TransferDate=col.timestamps(self.clock.values_after(rng, je.created, DAY_MS, 0.2)))

