//! `Push` (下推): an audited sales order to a sales outbound (`SAL_OUTSTOCK`), an audited
//! outbound to a receivable (`AR_receivable`). The target bill is created (status A) with
//! the source's lines copied and each line linked to its source line; the link is what
//! stops the source from being un-audited.

use serde_json::{Map, Value, json};

use super::Ctx;
use super::amounts;
use super::answer::{self, KdError};
use super::forms::{AR_RECEIVABLE, DOCUMENT_STATUS, ENTRY_ID, Form, SAL_OUTSTOCK, SAL_SALEORDER};
use super::records::{self, status};
use super::save;
use crate::store::Record;

/// Where a target value comes from.
#[derive(Clone, Copy, Debug)]
enum From {
    /// A header field of the source.
    Header(&'static str),
    /// A field of the source line.
    Line(&'static str),
    /// A fixed text.
    Text(&'static str),
    /// A fixed reference number.
    Ref(&'static str),
    /// The source bill's id, its line's `FEntryID`, its number.
    SourceId,
    SourceEntryId,
    SourceNumber,
}

/// A conversion rule (转换规则) from one form to another.
struct Rule {
    /// The rule ids a client may name instead of `TargetFormId`.
    ids: &'static [&'static str],
    from: &'static Form,
    to: &'static Form,
    header: &'static [(&'static str, From)],
    line: &'static [(&'static str, From)],
}

const RULES: [Rule; 2] = [
    Rule {
        ids: &["SaleOrder-OutStock"],
        from: &SAL_SALEORDER,
        to: &SAL_OUTSTOCK,
        header: &[
            ("FStockOrgId", From::Header("FSaleOrgId")),
            ("FSaleOrgId", From::Header("FSaleOrgId")),
            ("FCustomerID", From::Header("FCustId")),
            ("FNote", From::Header("FNote")),
        ],
        line: &[
            ("FMaterialID", From::Line("FMaterialId")),
            ("FUnitID", From::Line("FUnitID")),
            ("FRealQty", From::Line("FQty")),
            ("FStockID", From::Ref("CK001")),
            ("FPrice", From::Line("FPrice")),
            ("FTaxPrice", From::Line("FTaxPrice")),
            ("FEntryTaxRate", From::Line("FEntryTaxRate")),
            ("FSrcBillTypeId", From::Text("SAL_SaleOrder")),
            ("FSrcBillNo", From::SourceNumber),
            ("FSoorDerno", From::SourceNumber),
            ("FEntity_Link_FSBillId", From::SourceId),
            ("FEntity_Link_FSId", From::SourceEntryId),
        ],
    },
    Rule {
        ids: &["AR_OutStockToReceivableMap"],
        from: &SAL_OUTSTOCK,
        to: &AR_RECEIVABLE,
        header: &[
            ("FCUSTOMERID", From::Header("FCustomerID")),
            ("FSETTLEORGID", From::Header("FSaleOrgId")),
        ],
        line: &[
            ("FMATERIALID", From::Line("FMaterialID")),
            ("FPriceQty", From::Line("FRealQty")),
            ("FPrice", From::Line("FPrice")),
            ("FTaxPrice", From::Line("FTaxPrice")),
            ("FEntryTaxRate", From::Line("FEntryTaxRate")),
            ("FSOURCETYPE", From::Text("SAL_OUTSTOCK")),
            ("FSOURCEBILLNO", From::SourceNumber),
            ("FORDERNUMBER", From::Line("FSoorDerno")),
            ("FEntityDetail_Link_FSBillId", From::SourceId),
            ("FEntityDetail_Link_FSId", From::SourceEntryId),
        ],
    },
];

impl Rule {
    /// The target line field holding the source bill's id.
    fn link_key(&self) -> &'static str {
        self.line
            .iter()
            .find(|(_, from)| matches!(from, From::SourceId))
            .map(|(key, _)| *key)
            .expect("every rule links its lines")
    }
}

/// `Push`: `Numbers`/`Ids` of the source form, `TargetFormId` (or a known `RuleId`).
pub fn push(ctx: &Ctx, call: &super::request::Call) -> Result<Value, KdError> {
    let form = records::writable_form(call, "Push")?;
    let target = records::param(&call.data, "TargetFormId");
    let rule_id = records::param(&call.data, "RuleId");
    let rule = RULES
        .iter()
        .find(|r| {
            r.from.id == form.id
                && (r.to.id.eq_ignore_ascii_case(target)
                    || r.ids.iter().any(|i| i.eq_ignore_ascii_case(rule_id)))
        })
        .ok_or_else(|| KdError::NoPushRule {
            from: form.id.into(),
            to: if target.is_empty() {
                rule_id.into()
            } else {
                target.into()
            },
        })?;
    let _writing = ctx.writing();
    let mut successes = Vec::new();
    let mut errors = Vec::new();
    for (index, found) in records::named(ctx, form, &call.data)?
        .into_iter()
        .enumerate()
    {
        match found.and_then(|source| push_one(ctx, rule, &source)) {
            Ok(r) => successes.push(answer::success_entity(
                r.id,
                &records::number(rule.to, &r),
                index,
            )),
            Err(e) => errors.push((index, e)),
        }
    }
    Ok(answer::result(
        answer::response_status(successes, &errors),
        Map::new(),
    ))
}

fn push_one(ctx: &Ctx, rule: &Rule, source: &Record) -> Result<Record, KdError> {
    let number = records::number(rule.from, source);
    if records::status_of(source) != status::AUDITED {
        return Err(KdError::PushNotAudited(number));
    }
    if !downstream_of(ctx, rule, source).is_empty() {
        return Err(KdError::AlreadyPushed(number));
    }
    let mut fields = Map::new();
    for (key, from) in rule.header {
        if let Some(value) = value_of(*from, source, None, &number) {
            fields.insert((*key).into(), value);
        }
    }
    save::fill_defaults(ctx, rule.to, &mut fields);
    fields.insert(DOCUMENT_STATUS.into(), status::CREATED.into());
    if let Some(number_key) = rule.to.number {
        fields.insert(number_key.into(), records::next_number(ctx, rule.to).into());
    }
    let mut next_id = records::next_entry_id(ctx, rule.to);
    let lines: Vec<Value> = records::lines(rule.from, source)
        .iter()
        .map(|line| {
            let mut target = Map::new();
            target.insert(ENTRY_ID.into(), next_id.into());
            next_id += 1;
            for (key, from) in rule.line {
                if let Some(value) = value_of(*from, source, Some(line), &number) {
                    target.insert((*key).into(), value);
                }
            }
            Value::Object(target)
        })
        .collect();
    let entry = rule.to.entry.expect("push targets are bills with lines");
    fields.insert(entry.key.into(), lines.into());
    amounts::compute(rule.to, &mut fields);
    ctx.harness
        .store()
        .insert(rule.to.id, fields)
        .map_err(|e| KdError::BadParameter(e.to_string()))
}

fn value_of(
    from: From,
    source: &Record,
    line: Option<&Map<String, Value>>,
    number: &str,
) -> Option<Value> {
    match from {
        From::Header(key) => source.fields.get(key).cloned(),
        From::Line(key) => line?.get(key).cloned(),
        From::Text(text) => Some(json!(text)),
        From::Ref(number) => Some(json!({ "FNumber": number })),
        From::SourceId => Some(json!(source.id)),
        From::SourceEntryId => line?.get(ENTRY_ID).cloned(),
        From::SourceNumber => Some(json!(number)),
    }
}

/// The bills pushed from `source` by `rule` that still exist.
fn downstream_of(ctx: &Ctx, rule: &Rule, source: &Record) -> Vec<Record> {
    let link = rule.link_key();
    let targets = ctx
        .harness
        .store()
        .list(rule.to.id, None, None)
        .unwrap_or_default();
    targets
        .into_iter()
        .filter(|t| {
            records::lines(rule.to, t)
                .iter()
                .any(|l| l.get(link).and_then(Value::as_u64) == Some(source.id))
        })
        .collect()
}

/// Whether any bill was pushed from `source` (and not deleted since).
pub fn has_downstream(ctx: &Ctx, form: &Form, source: &Record) -> bool {
    RULES
        .iter()
        .filter(|r| r.from.id == form.id)
        .any(|r| !downstream_of(ctx, r, source).is_empty())
}
