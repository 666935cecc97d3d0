"""Generates a seeded, foreign-key-consistent tenant: the record versions of every catalog model as Arrow.

The builders here decide who references whom (and when); `values` fills every other field plausibly and
`records` expands records into versions.

Records are built per model in dependency order (parents first) as numpy/Arrow columns, with no Python
loop per row. Foreign keys are kept as parent row numbers until the end, so a record that no other record
references can be chosen for deletion. Then each model's records are expanded into versions (creation,
updates, deletion) by `timeline.plan`.
"""

from __future__ import annotations

import gc

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zuora_assets.sim import columns as col
from zuora_assets.sim import pools
from zuora_assets.sim.billing import BillingBuilder
from zuora_assets.sim.records import Generated, Groups, Records, emit
from zuora_assets.sim.timeline import DAY_MS, Clock, draw_updates, plan
from zuora_assets.sim.values import Values
from zuora_assets.zuora.catalog import Field, model

HOUR_MS = 3_600_000
FAR_FUTURE_MS = 253_402_214_400_000  # 9999-12-31, Zuora's "no end date" (estuary's real-tenant snapshot)
BIG_TENANT_RECORDS = 100_000  # above this, a full garbage collection between builds is worth its ~0.2 s


class TenantGenerator(BillingBuilder):
    """Builds one tenant (one entity) from the configuration; `generate()` returns every model's versions."""

    def __init__(self, *, seed: int, entity: int, accounts: int, days: int, now_ms: int,
                 invoice_items: int | None, custom_fields: dict[str, list[Field]], clock: Clock):
        self.rng = np.random.default_rng([seed, entity, accounts, days])
        self.entity = entity
        self.accounts = accounts
        self.days = days
        self.end = now_ms
        self.forced_items = invoice_items
        self.custom = custom_fields
        self.clock = clock
        self.values = Values(self.rng, clock, entity)
        self.r: dict[str, Records] = {}

    # ----- the whole tenant -----

    def generate(self) -> dict[str, Generated]:
        for build in (self._catalog, self._accounts, self._subscriptions, self._invoices, self._payments,
                      self._memos, self._misc):
            build()
            if sum(rec.n for rec in self.r.values()) > BIG_TENANT_RECORDS:
                gc.collect()  # arrays a build let go of but that sit in reference cycles: hundreds of MB at 5M items
        referenced = self._referenced()
        for rec in self.r.values():
            rec.parents.clear()  # the row numbers of parents were needed to build and to find referenced records
        out = {}
        for obj, rec in self.r.items():
            if rec.n > BIG_TENANT_RECORDS:
                gc.collect()
            out[obj] = self._emit(rec, ~referenced[obj])
            rec.cols.clear()  # the versions hold the values now; free the record-level copies
        return out

    # ----- product catalog -----

    def _catalog(self) -> None:
        rng, start = self.rng, self.clock.start_ms
        n = int(np.clip(3 + self.accounts // 20, 3, 200))
        prod = self._new("Product", np.sort(self.clock.after(rng, np.full(n, start), DAY_MS)))
        prod.cols.update(Name=col.pooled(pools.PRODUCTS, np.arange(n) % len(pools.PRODUCTS)),
                         SKU=self.values.numbers("Product", "SKU", n),
                         ProductNumber=self.values.numbers("Product", "ProductNumber", n),
                         EffectiveStartDate=col.dates(prod.created - 30 * DAY_MS),
                         EffectiveEndDate=col.dates(np.where(rng.random(n) < 0.8, FAR_FUTURE_MS,
                                                             prod.created + 730 * DAY_MS)))
        prp_owner = np.repeat(np.arange(n), 2)
        prp = self._new("ProductRatePlan", self.clock.after(rng, prod.created[prp_owner], HOUR_MS))
        self._fk(prp, "ProductId", "Product", prp_owner)
        prp.cols["Name"] = col.pick(rng, ("Monthly", "Annual", "Enterprise, Annual", "Starter"), prp.n)
        prpc_owner = np.repeat(np.arange(prp.n), 2)
        prpc = self._new("ProductRatePlanCharge", self.clock.after(rng, prp.created[prpc_owner], HOUR_MS))
        self._fk(prpc, "ProductRatePlanId", "ProductRatePlan", prpc_owner)
        tiers = 1 + rng.integers(0, 3, size=prpc.n)
        tier_owner = np.repeat(np.arange(prpc.n), tiers)
        tier = self._new("ProductRatePlanChargeTier", prpc.created[tier_owner])
        self._fk(tier, "ProductRatePlanChargeId", "ProductRatePlanCharge", tier_owner)
        tier.cols["Tier"] = col.integers(np.arange(len(tier_owner)) - np.repeat(np.cumsum(tiers) - tiers, tiers) + 1)

    # ----- accounts, contacts, payment methods -----

    def _accounts(self) -> None:
        rng, n = self.rng, self.accounts
        acc = self._new("Account", np.sort(self.clock.spread(rng, n)))
        acc.cols.update(AccountNumber=self.values.numbers("Account", "AccountNumber", n),
                        BillCycleDay=col.integers(rng.integers(1, 29, size=n)),
                        Currency=col.pick(rng, pools.CURRENCIES, n))
        contact_owner = np.repeat(np.arange(n), 2)
        contact = self._new("Contact", acc.created[contact_owner])
        self._fk(contact, "AccountId", "Account", contact_owner)
        contact.cols["WorkEmail"] = pc.binary_join_element_wise(col.numbered("user", np.arange(contact.n)),
                                                                "@example.com", "")
        pms = 1 + (rng.random(n) < 0.3)
        pm_owner = np.repeat(np.arange(n), pms)
        pm = self._new("PaymentMethod", acc.created[pm_owner])
        self._fk(pm, "AccountId", "Account", pm_owner)
        pm.cols["CreditCardExpirationYear"] = col.integers(rng.integers(2026, 2032, size=pm.n))
        pm.cols["CreditCardExpirationMonth"] = col.integers(rng.integers(1, 13, size=pm.n))
        first_pm = np.cumsum(pms) - pms
        self._fk(acc, "BillToId", "Contact", 2 * np.arange(n))
        self._fk(acc, "SoldToId", "Contact", 2 * np.arange(n) + (rng.random(n) < 0.7))
        self._fk(acc, "DefaultPaymentMethodId", "PaymentMethod", first_pm)
        parent = np.where((rng.random(n) < 0.1) & (np.arange(n) > 0),
                          (rng.random(n) * np.arange(n)).astype(np.int64), -1)
        self._fk(acc, "ParentId", "Account", parent)
        self.default_pm = first_pm

    # ----- subscriptions and everything versioned with them -----

    def _subscriptions(self) -> None:
        rng, acc = self.rng, self.r["Account"]
        per_account = 1 + np.minimum(rng.poisson(0.5, size=acc.n), 2)
        logical_account = np.repeat(np.arange(acc.n), per_account)
        is_first = np.arange(len(logical_account)) == np.repeat(np.cumsum(per_account) - per_account, per_account)
        first = np.where(is_first, self.clock.after(rng, acc.created[logical_account], HOUR_MS),
                         self.clock.after(rng, acc.created[logical_account], 5 * DAY_MS))
        nver = 1 + np.minimum(rng.poisson(0.6, size=len(first)), 2)
        lineage = plan(first, self.end, nver - 1, np.zeros(len(first), dtype=bool), rng)
        sub = self._new("Subscription", lineage.time)
        logical, version = lineage.rec, np.arange(sub.n) - np.repeat(np.cumsum(nver) - nver, nver) + 1
        account = logical_account[logical]
        is_latest = version == nver[logical]
        self._fk(sub, "AccountId", "Account", account)
        self._fk(sub, "InvoiceOwnerId", "Account", account)
        self._fk(sub, "CreatorAccountId", "Account", account)
        self._fk(sub, "CreatorInvoiceOwnerId", "Account", account)
        self._fk(sub, "OriginalId", "Subscription", np.arange(sub.n) - version + 1)
        self._fk(sub, "PreviousSubscriptionId", "Subscription", np.where(version > 1, np.arange(sub.n) - 1, -1))
        self._copy(sub, "Currency", "Account", account)
        start = col.dates(first[logical])
        sub.cols.update(Name=col.numbered("A-S", logical + 1), Version=col.integers(version),
                        OriginalCreatedDate=col.timestamps(first[logical]), ContractEffectiveDate=start,
                        SubscriptionStartDate=start, TermStartDate=start,
                        SubscriptionEndDate=self.values.days_after(first[logical], 365),
                        TermEndDate=self.values.days_after(first[logical], 365), InitialTerm=col.integers(np.full(sub.n, 12)),
                        CurrentTerm=col.integers(np.full(sub.n, 12)), RenewalTerm=col.integers(np.full(sub.n, 12)))
        self._subscription_versions(sub, is_latest)
        self.sub_account, self.sub_version, self.sub_logical = account, version, logical
        self._amendments_and_orders(sub, version, logical, logical_account)
        self._fk(sub, "OrderId", "Order", logical)  # one order per subscription, made with its first version
        self._fk(sub, "SubscriptionVersionAmendmentId", "Amendment", self.amendment_of_sub)
        self._rate_plans(sub)

    def _subscription_versions(self, sub: Records, is_latest: np.ndarray) -> None:
        """Each older version gets one update, when the next version appears: Status Expired, not latest."""
        rng = self.rng
        updates = np.where(is_latest, draw_updates(rng, sub.n, 0.4, 2), 1)
        v = plan(sub.created, self.end, updates, np.zeros(sub.n, dtype=bool), rng)
        expiry = ~v.created & ~is_latest[v.rec]
        v.time[expiry] = sub.created[v.rec[expiry] + 1]  # an older version always has a next one
        later = col.pick(rng, ("Active", "Active", "Cancelled", "Suspended"), len(v)).to_numpy(zero_copy_only=False)
        status = np.where(v.created, "Active", np.where(expiry, "Expired", later))
        cancelled = status == "Cancelled"
        sub.versions = v
        sub.version_cols = {
            "Status": pa.array(status, type=pa.string()),
            "IsLatestVersion": col.booleans(~expiry),
            "CancelledDate": col.dates(v.time, valid=cancelled),
        }

    def _amendments_and_orders(self, sub: Records, version: np.ndarray, logical: np.ndarray,
                               logical_account: np.ndarray) -> None:
        amended = np.flatnonzero(version > 1)
        amd = self._new("Amendment", sub.created[amended])
        self._fk(amd, "SubscriptionId", "Subscription", amended)
        amd.cols.update(Code=self.values.numbers("Amendment", "Code", amd.n), EffectiveDate=col.dates(amd.created),
                        ContractEffectiveDate=col.dates(amd.created))
        self.amendment_of_sub = np.full(sub.n, -1)
        self.amendment_of_sub[amended] = np.arange(amd.n)
        firsts = np.flatnonzero(version == 1)
        order = self._new("Order", sub.created[firsts])
        self._fk(order, "AccountId", "Account", logical_account)
        order.cols.update(OrderNumber=self.values.numbers("Order", "OrderNumber", order.n), OrderDate=col.dates(order.created),
                          CreatedByMigration=col.booleans(self.rng.random(order.n) < 0.05))
        action = self._new("OrderAction", sub.created)
        self._fk(action, "OrderId", "Order", logical)
        self._fk(action, "SubscriptionId", "Subscription", np.arange(sub.n))
        self._fk(action, "SubscriptionVersionAmendmentId", "Amendment", self.amendment_of_sub)
        later = col.pick(self.rng, pools.PICKLISTS["OrderAction.Type"], sub.n)
        action.cols.update(Type=pa.array(np.where(version == 1, "CreateSubscription",
                                                  later.to_numpy(zero_copy_only=False)), type=pa.string()),
                           Sequence=col.integers(version - 1), SubscriptionNumber=sub.cols["Name"],
                           ContractEffectiveDate=col.dates(sub.created))

    def _rate_plans(self, sub: Records) -> None:
        rng = self.rng
        plans = 1 + (rng.random(sub.n) < 0.4)
        rp_sub = np.repeat(np.arange(sub.n), plans)
        rp = self._new("RatePlan", sub.created[rp_sub])
        prp_idx = rng.integers(0, self.r["ProductRatePlan"].n, size=rp.n)
        self._fk(rp, "SubscriptionId", "Subscription", rp_sub)
        self._fk(rp, "ProductRatePlanId", "ProductRatePlan", prp_idx)
        self._fk(rp, "AmendmentId", "Amendment", self.amendment_of_sub[rp_sub])
        self._fk(rp, "OriginalRatePlanId", "RatePlan", np.arange(rp.n))
        for owner in ("InvoiceOwnerId", "SubscriptionOwnerId"):
            self._fk(rp, owner, "Account", self.sub_account[rp_sub])
        amended = np.flatnonzero(self.amendment_of_sub >= 0)
        self._fk(self.r["Amendment"], "NewRatePlanId", "RatePlan",
                 Groups.of(rp_sub, sub.n).first(amended))  # each amendment added its version's first plan
        self._copy(rp, "Name", "ProductRatePlan", prp_idx)
        rp.cols["AmendmentType"] = col.with_nulls(rng, col.pick(rng, pools.PICKLISTS["RatePlan.AmendmentType"], rp.n), 0.3)
        charges = 1 + (rng.random(rp.n) < 0.5)
        rpc_rp = np.repeat(np.arange(rp.n), charges)
        rpc = self._new("RatePlanCharge", rp.created[rpc_rp])
        prpc_groups = Groups.of(self.r["ProductRatePlanCharge"].parents["ProductRatePlanId"][1],
                                self.r["ProductRatePlan"].n)
        prpc_idx = prpc_groups.pick(rng, prp_idx[rpc_rp])
        self._fk(rpc, "RatePlanId", "RatePlan", rpc_rp)
        self._fk(rpc, "ProductRatePlanChargeId", "ProductRatePlanCharge", prpc_idx)
        self._fk(rpc, "SubscriptionId", "Subscription", rp_sub[rpc_rp])
        self._fk(rpc, "OriginalId", "RatePlanCharge", np.arange(rpc.n))
        for owner in ("InvoiceOwnerId", "SubscriptionOwnerId"):
            self._fk(rpc, owner, "Account", self.sub_account[rp_sub[rpc_rp]])
        self.rpc_plan, self.rp_product_plan = rpc_rp, prp_idx
        for name in ("Name", "ChargeType", "ChargeModel", "BillingPeriod", "UOM"):
            self._copy(rpc, name, "ProductRatePlanCharge", prpc_idx)
        rpc.cols.update(ChargeNumber=self.values.numbers("RatePlanCharge", "ChargeNumber", rpc.n),
                        Segment=col.integers(np.ones(rpc.n)), IsLastSegment=col.booleans(np.ones(rpc.n)),
                        Version=col.integers(self.sub_version[rp_sub[rpc_rp]]),
                        EffectiveStartDate=col.dates(rpc.created))
        tier = self._new("RatePlanChargeTier", rpc.created)
        self._fk(tier, "RatePlanChargeId", "RatePlanCharge", np.arange(rpc.n))
        self._copy(tier, "Currency", "Subscription", rp_sub[rpc_rp])
        tier.cols.update(Tier=col.integers(np.ones(tier.n)), StartingUnit=col.decimals(np.zeros(tier.n), 0))

    # ----- versions -----

    def _fields(self, obj: str) -> list[Field]:
        return list(model(obj).fields) + list(self.custom.get(obj, []))

    def _emit(self, rec: Records, deletable: np.ndarray) -> Generated:
        """Expand records into version rows; fields not given are filled with plausible defaults."""
        v = rec.versions
        if v is None:
            updates = draw_updates(self.rng, rec.n, pools.UPDATES.get(rec.object, pools.DEFAULT_UPDATES))
            v = plan(rec.created, self.end, updates, deletable & (self.rng.random(rec.n) < pools.DELETE_RATE),
                     self.rng)
        return emit(self.values, rec, v, self._fields(rec.object))
