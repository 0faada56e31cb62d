//! `ferry-double <double> [--port N] [options]`: starts a double for manual use, prints its
//! URL on the first line of standard output, and serves until Ctrl-C.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ferry_doubles::RunningDouble;
use ferry_doubles::dynamics::{DynamicsConfig, DynamicsDouble};
use ferry_doubles::jiandaoyun::{
    self, JiandaoyunConfig, JiandaoyunDouble, JiandaoyunSeed, PushConfig, RateLimits,
};
use ferry_doubles::kingdee::{KingdeeConfig, KingdeeDouble, KingdeeSeed};
use ferry_doubles::netsuite::{NetSuiteConfig, NetSuiteDouble};
use ferry_doubles::reference::{
    AuthMode, ExpiredAnswer, Paging, ReferenceConfig, ReferenceDouble, Seed,
};
use ferry_doubles::salesforce::{SalesforceConfig, SalesforceDouble};
use ferry_doubles::sap::{IfMatch, SapConfig, SapDouble, SapSeed};
use ferry_doubles::shopify::{ShopifyConfig, ShopifyDouble};
use ferry_doubles::yonyou::{
    PushConfig as YonyouPush, RateLimit, YonyouConfig, YonyouDouble, YonyouSeed,
};

/// Starts a wire-level double of a vendor API on 127.0.0.1 (test support: not the vendor).
#[derive(Parser)]
#[command(name = "ferry-double", version)]
struct Cli {
    #[command(subcommand)]
    double: Which,
}

#[derive(Subcommand)]
enum Which {
    /// The generic REST + SOAP reference API (a double of no vendor).
    Reference(ReferenceArgs),
    /// The Kingdee 金蝶云星空 (K/3 Cloud) WebAPI, built from its published documentation.
    Kingdee(KingdeeArgs),
    /// The Jiandaoyun 简道云 open API (v5), built from its published documentation.
    Jiandaoyun(JiandaoyunArgs),
    /// The Yonyou 用友 YonBIP open API (gateway, token, lists, saves, event pushes), built
    /// from its published documentation.
    Yonyou(YonyouArgs),
    /// SAP S/4HANA Cloud A2X OData v2 APIs (business partner, product, sales order,
    /// delivery, billing), built from the dossier.
    Sap(SapArgs),
    /// Salesforce REST / Bulk 2.0 / CDC (CometD) with OAuth 2.0, built from its published
    /// documentation.
    Salesforce(SalesforceArgs),
    /// Shopify Admin GraphQL (cost throttle, bulk operations, HMAC webhooks), built from the
    /// dossier.
    Shopify(ShopifyArgs),
    /// Oracle NetSuite REST web services (SuiteQL, record API, TBA, concurrency
    /// governance), built from the dossier.
    Netsuite(NetSuiteArgs),
    /// Dynamics 365 Dataverse Web API (OData v4) with Entra ID tokens, built from the
    /// dossier.
    Dynamics(DynamicsArgs),
}

#[derive(Args)]
struct NetSuiteArgs {
    #[command(flatten)]
    common: Common,
    /// Requests served at once before `CONCURRENCY_LIMIT_EXCEEDED`.
    #[arg(long, default_value_t = NetSuiteConfig::default().concurrency)]
    concurrency: usize,
    /// Also hold the Shopify double's SKUs as items (examples/shopify-netsuite).
    #[arg(long)]
    shop_catalogue: bool,
}

#[derive(Args)]
struct DynamicsArgs {
    #[command(flatten)]
    common: Common,
    /// Requests per 5-minute window before 429 (Dataverse: 6000).
    #[arg(long, default_value_t = DynamicsConfig::default().request_limit)]
    request_limit: u32,
    /// Access token lifetime in seconds.
    #[arg(long, default_value_t = DynamicsConfig::default().token_ttl.as_secs())]
    token_ttl: u64,
}

#[derive(Args)]
struct ShopifyArgs {
    #[command(flatten)]
    common: Common,
    /// Where webhooks are POSTed.
    #[arg(long)]
    webhook_url: Option<String>,
}

#[derive(Args)]
struct Common {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[derive(Args)]
struct ReferenceArgs {
    #[command(flatten)]
    common: Common,
    /// How clients authenticate.
    #[arg(long, value_enum, default_value = "api_key")]
    auth: AuthMode,
    /// Paging style of every object.
    #[arg(long, value_enum, default_value = "page")]
    paging: Paging,
    /// Paging style of one object, as OBJECT=STYLE (repeatable).
    #[arg(long, value_parser = object_paging)]
    object_paging: Vec<(String, Paging)>,
    /// Write next-page URLs (`next`, `Link`) as paths instead of absolute URLs.
    #[arg(long)]
    relative_next: bool,
    /// Lifetime of OAuth tokens and login sessions, in seconds.
    #[arg(long, default_value_t = 3600)]
    session_ttl: u64,
    /// How an expired token or session is answered.
    #[arg(long, value_enum, default_value = "unauthorized")]
    expired_answer: ExpiredAnswer,
    /// Seeded customers.
    #[arg(long, default_value_t = Seed::default().customers)]
    customers: usize,
    /// Seeded products.
    #[arg(long, default_value_t = Seed::default().products)]
    products: usize,
    /// Seeded orders.
    #[arg(long, default_value_t = Seed::default().orders)]
    orders: usize,
    /// Seeded records of one object sharing one modified second.
    #[arg(long, default_value_t = Seed::default().ties)]
    ties: usize,
}

#[derive(Args)]
struct KingdeeArgs {
    #[command(flatten)]
    common: Common,
    /// Seconds a session may stay unused before it is lost.
    #[arg(long, default_value_t = 1200)]
    session_idle: u64,
    /// The server's UTC offset in hours (dates are answered in it, without a zone).
    #[arg(long, default_value_t = 8, allow_negative_numbers = true)]
    utc_offset_hours: i32,
    /// Seeded customers.
    #[arg(long, default_value_t = KingdeeSeed::default().customers)]
    customers: usize,
    /// Seeded materials (each with stock rows and a price).
    #[arg(long, default_value_t = KingdeeSeed::default().materials)]
    materials: usize,
    /// Seeded sales orders.
    #[arg(long, default_value_t = KingdeeSeed::default().sales_orders)]
    sales_orders: usize,
}

impl KingdeeArgs {
    fn config(&self) -> Result<KingdeeConfig, String> {
        let offset =
            chrono::FixedOffset::east_opt(self.utc_offset_hours * 3600).ok_or_else(|| {
                format!(
                    "--utc-offset-hours {} is not an offset",
                    self.utc_offset_hours
                )
            })?;
        Ok(KingdeeConfig {
            session_idle: Duration::from_secs(self.session_idle),
            utc_offset: offset,
            seed: KingdeeSeed {
                customers: self.customers,
                materials: self.materials,
                sales_orders: self.sales_orders,
            },
            ..KingdeeConfig::default()
        })
    }
}

#[derive(Args)]
struct JiandaoyunArgs {
    #[command(flatten)]
    common: Common,
    /// The API key accepted as `Authorization: Bearer <key>`.
    #[arg(long, default_value = jiandaoyun::API_KEY)]
    api_key: String,
    /// Where data-push notices are POSTed (none: no push).
    #[arg(long)]
    push_url: Option<String>,
    /// The secret push notices are signed with.
    #[arg(long, default_value = jiandaoyun::PUSH_SECRET)]
    push_secret: String,
    /// Failed deliveries in a row after which the push is disabled.
    #[arg(long, default_value_t = PushConfig::default().disable_after)]
    disable_push_after: u32,
    /// Refuse writes that leave a required widget empty (the API skips this check).
    #[arg(long)]
    enforce_required: bool,
    /// Serve without the documented rate limits.
    #[arg(long)]
    no_rate_limits: bool,
    /// Seeded records of the 客户 form.
    #[arg(long, default_value_t = JiandaoyunSeed::default().customers)]
    customers: usize,
    /// Seeded records of the 订单 form.
    #[arg(long, default_value_t = JiandaoyunSeed::default().orders)]
    orders: usize,
}

impl JiandaoyunArgs {
    fn config(&self) -> JiandaoyunConfig {
        let rate_limits = if self.no_rate_limits {
            RateLimits::unlimited()
        } else {
            RateLimits::default()
        };
        JiandaoyunConfig {
            api_key: self.api_key.clone(),
            push: PushConfig {
                url: self.push_url.clone(),
                secret: self.push_secret.clone(),
                disable_after: self.disable_push_after,
                ..PushConfig::default()
            },
            enforce_required: self.enforce_required,
            rate_limits,
            seed: JiandaoyunSeed {
                customers: self.customers,
                orders: self.orders,
            },
            ..JiandaoyunConfig::default()
        }
    }
}

#[derive(Args)]
struct YonyouArgs {
    #[command(flatten)]
    common: Common,
    /// Token lifetime in seconds (answered as `expire`).
    #[arg(long, default_value_t = 7200)]
    token_lifetime: u64,
    /// Calls allowed per API and minute before 310046; none when absent.
    #[arg(long)]
    calls_per_minute: Option<u32>,
    /// Where event pushes go (also settable at run time: POST /_double/yonyou/push-url).
    #[arg(long)]
    push_url: Option<String>,
    /// The duplicate-submission code after the idempotency window (100004 or 10004).
    #[arg(long, default_value = "100004")]
    duplicate_code: String,
    /// Require every sales-order line field the source marks required.
    #[arg(long)]
    strict_order_lines: bool,
    /// Seeded customers.
    #[arg(long, default_value_t = YonyouSeed::default().customers)]
    customers: usize,
    /// Seeded materials.
    #[arg(long, default_value_t = YonyouSeed::default().materials)]
    materials: usize,
    /// Seeded sales orders.
    #[arg(long, default_value_t = YonyouSeed::default().sales_orders)]
    sales_orders: usize,
    /// Seeded records of one object sharing one `pubts` second.
    #[arg(long, default_value_t = YonyouSeed::default().ties)]
    ties: usize,
}

impl YonyouArgs {
    fn config(&self) -> YonyouConfig {
        YonyouConfig {
            token_lifetime: Duration::from_secs(self.token_lifetime),
            rate_limit: self.calls_per_minute.map(|calls| RateLimit {
                calls,
                window: Duration::from_secs(60),
            }),
            duplicate_code: self.duplicate_code.clone(),
            strict_order_lines: self.strict_order_lines,
            push: YonyouPush {
                url: self.push_url.clone(),
                ..YonyouPush::default()
            },
            seed: YonyouSeed {
                customers: self.customers,
                materials: self.materials,
                sales_orders: self.sales_orders,
                ties: self.ties,
            },
            ..YonyouConfig::default()
        }
    }
}

#[derive(Args)]
struct SapArgs {
    #[command(flatten)]
    common: Common,
    /// Server-driven page size (`__next` with `$skiptoken` after this many entries).
    #[arg(long, default_value_t = SapConfig::default().page_size)]
    page_size: usize,
    /// Whether updates and deletes must carry If-Match (428 when missing).
    #[arg(long, value_enum, default_value = "required")]
    if_match: IfMatch,
    /// Lifetime of OAuth access tokens, in seconds.
    #[arg(long, default_value_t = 3600)]
    token_ttl: u64,
    /// Lifetime of session cookies and CSRF tokens, in seconds.
    #[arg(long, default_value_t = 1800)]
    session_ttl: u64,
    /// Seeded business partners that are customers.
    #[arg(long, default_value_t = SapSeed::default().customers)]
    customers: usize,
    /// Seeded products.
    #[arg(long, default_value_t = SapSeed::default().products)]
    products: usize,
    /// Seeded sales orders.
    #[arg(long, default_value_t = SapSeed::default().sales_orders)]
    sales_orders: usize,
}

impl SapArgs {
    fn config(&self) -> SapConfig {
        SapConfig {
            page_size: self.page_size,
            if_match: self.if_match,
            token_ttl: Duration::from_secs(self.token_ttl),
            session_ttl: Duration::from_secs(self.session_ttl),
            seed: SapSeed {
                customers: self.customers,
                products: self.products,
                sales_orders: self.sales_orders,
            },
            ..SapConfig::default()
        }
    }
}

#[derive(Args)]
struct SalesforceArgs {
    #[command(flatten)]
    common: Common,
    /// Access-token lifetime in seconds (sliding with use).
    #[arg(long, default_value_t = 7200)]
    token_ttl: u64,
    /// Largest page of a SOQL query.
    #[arg(long, default_value_t = SalesforceConfig::default().query_batch_size)]
    query_batch_size: usize,
    /// The daily API request allocation.
    #[arg(long, default_value_t = SalesforceConfig::default().daily_api_limit)]
    daily_api_limit: u64,
    /// Seconds a CometD /meta/connect waits for an event.
    #[arg(long, default_value_t = 10)]
    cometd_poll: u64,
}

impl SalesforceArgs {
    fn config(&self) -> SalesforceConfig {
        SalesforceConfig {
            token_ttl: Duration::from_secs(self.token_ttl),
            query_batch_size: self.query_batch_size,
            daily_api_limit: self.daily_api_limit,
            cometd_poll: Duration::from_secs(self.cometd_poll),
            ..SalesforceConfig::default()
        }
    }
}

fn object_paging(text: &str) -> Result<(String, Paging), String> {
    let (object, style) = text
        .split_once('=')
        .ok_or_else(|| format!("expected OBJECT=STYLE, found `{text}`"))?;
    let style = <Paging as clap::ValueEnum>::from_str(style, false).map_err(|_| {
        let names: Vec<&str> = Paging::ALL.iter().map(|p| p.name()).collect();
        format!("`{style}` is not a paging style ({})", names.join(", "))
    })?;
    Ok((object.to_owned(), style))
}

impl ReferenceArgs {
    fn config(&self) -> ReferenceConfig {
        ReferenceConfig {
            paging: self.paging,
            object_paging: self.object_paging.iter().cloned().collect(),
            relative_next_urls: self.relative_next,
            auth: self.auth,
            session_ttl: Duration::from_secs(self.session_ttl),
            expired_answer: self.expired_answer,
            seed: Seed {
                customers: self.customers,
                products: self.products,
                orders: self.orders,
                ties: self.ties,
            },
            ..ReferenceConfig::default()
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let started = match &cli.double {
        Which::Reference(args) => {
            ferry_doubles::start(ReferenceDouble::new(args.config()), args.common.port).await
        }
        Which::Jiandaoyun(args) => {
            let double = JiandaoyunDouble::new(args.config());
            ferry_doubles::start(double, args.common.port).await
        }
        Which::Kingdee(args) => match args.config() {
            Ok(config) => ferry_doubles::start(KingdeeDouble::new(config), args.common.port).await,
            Err(e) => {
                eprintln!("ferry-double: {e}");
                return ExitCode::FAILURE;
            }
        },
        Which::Yonyou(args) => {
            ferry_doubles::start(YonyouDouble::new(args.config()), args.common.port).await
        }
        Which::Sap(args) => {
            ferry_doubles::start(SapDouble::new(args.config()), args.common.port).await
        }
        Which::Salesforce(args) => {
            ferry_doubles::start(SalesforceDouble::new(args.config()), args.common.port).await
        }
        Which::Shopify(args) => {
            let config = ShopifyConfig {
                webhook_url: args.webhook_url.clone(),
                ..ShopifyConfig::default()
            };
            ferry_doubles::start(ShopifyDouble::new(config), args.common.port).await
        }
        Which::Netsuite(args) => {
            let config = NetSuiteConfig {
                concurrency: args.concurrency,
                shop_catalogue: args.shop_catalogue,
                ..NetSuiteConfig::default()
            };
            ferry_doubles::start(NetSuiteDouble::new(config), args.common.port).await
        }
        Which::Dynamics(args) => {
            let config = DynamicsConfig {
                request_limit: args.request_limit,
                token_ttl: std::time::Duration::from_secs(args.token_ttl),
                ..DynamicsConfig::default()
            };
            ferry_doubles::start(DynamicsDouble::new(config), args.common.port).await
        }
    };
    match started {
        Ok(double) => serve(double).await,
        Err(e) => {
            eprintln!("ferry-double: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(double: RunningDouble) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let lines = [double.base_url().to_owned()]
        .into_iter()
        .chain([format!(
            "{} double (test support, not the vendor); Ctrl-C stops",
            double.double().name()
        )])
        .chain(double.double().describe())
        .chain([format!(
            "control: {0}/_double/faults, {0}/_double/requests, {0}/_double/reset",
            double.base_url()
        )]);
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
    drop(out);
    match double.serve_until_interrupted().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry-double: waiting for Ctrl-C failed: {e}");
            ExitCode::FAILURE
        }
    }
}
