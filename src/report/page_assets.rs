//! The page's inline CSS and its one small script, kept apart from the HTML they dress.

/// The page's CSS: readable at desktop width and on a phone (one column under 600 px).
pub(super) const STYLE: &str = r#"
:root{--ink:#222;--muted:#666;--line:#e4e4e7;--bg:#f6f7f9;--accent:#0072b2}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1120px;margin:0 auto;padding:16px}
header h1{margin:8px 0 0;font-size:26px}
.sub{margin:2px 0 8px;color:var(--muted)}
nav{display:flex;flex-wrap:wrap;gap:6px 14px;margin:0 0 12px;font-size:14px}
nav a{color:var(--accent);text-decoration:none}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:14px 18px;margin:14px 0}
h2{margin:0 0 10px;font-size:20px}
h3{margin:14px 0 8px;font-size:17px}
h4{margin:0 0 8px;font-size:15px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.card h3{margin:0 0 6px;display:flex;align-items:center;gap:8px;flex-wrap:wrap}
.swatch{width:12px;height:12px;border-radius:3px;display:inline-block}
.status{font-size:12px;font-weight:600;padding:1px 8px;border-radius:10px;background:#eee;text-transform:uppercase;letter-spacing:.04em}
.status.running{background:#e0f0ff;color:#005a8c}.status.finished{background:#e3f6ea;color:#176b3a}.status.interrupted{background:#fff1db;color:#8a5200}
dl{display:grid;grid-template-columns:auto 1fr;gap:2px 12px;margin:0}
dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
details{margin-top:6px;font-size:13px}pre{overflow:auto;max-height:260px;background:var(--bg);padding:8px;border-radius:6px}
.path{color:var(--muted);font-size:12px;margin:6px 0 0;overflow-wrap:anywhere}
figure{margin:0 0 12px;max-width:860px}figure svg{width:100%;height:auto;display:block}
figcaption{color:var(--muted);font-size:13px;margin-top:2px}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:14px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:4px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.arch-text{font-size:12px;color:#444;min-width:240px}.reason{overflow-wrap:anywhere}
.candidate{border-top:1px solid var(--line);padding-top:12px;margin-top:12px}
.candidate figure{max-width:560px}
.arch-wrap{margin-bottom:8px}
svg.arch{max-width:100%;height:auto}
svg.arch rect{fill:#fff;stroke:#888;stroke-width:1.2}
svg.arch .stem rect,svg.arch .io rect{fill:#f1f1f4}
svg.arch .reduce rect{fill:#fff7e6;stroke:#c98a00}
svg.arch .cell rect{fill:#eaf4fb;stroke:#0072b2}
svg.arch rect.stage{fill:#fafafa;stroke:#ccc;stroke-dasharray:4 3}
svg.arch text{font:13px system-ui,sans-serif;text-anchor:middle;fill:#222}
svg.arch text.t{font-weight:600}svg.arch text.d{font-size:11.5px;fill:#444}
svg.arch text.sl{text-anchor:start;font-size:12px;fill:#666}
svg.arch .flow{stroke:#555;stroke-width:1.5}
svg.arch .skip{fill:none;stroke:#c81e2d;stroke-width:1.6}
.export{font-size:14px}code{background:var(--bg);padding:1px 5px;border-radius:4px;font-size:13px;overflow-wrap:anywhere}
.none,.muted{color:var(--muted)}.warn{background:#fff1db;padding:6px 10px;border-radius:6px}
@media (max-width:600px){main{padding:8px}section{padding:10px 10px}.pair{grid-template-columns:1fr}h1{font-size:22px}}
"#;

/// Checks, once the page is laid out, that every plot drew something; a broken plot is a
/// console error (what the browser test looks for) and a mark on the page.
pub(super) const SCRIPT: &str = r#"
(function(){var figs=document.querySelectorAll('figure.plot'),ok=0;
figs.forEach(function(f){var s=f.querySelector('svg');var b=s&&s.getBBox?s.getBBox():null;
if(s&&s.childElementCount>0&&b&&b.width>0&&b.height>0){ok++}else{f.classList.add('broken');console.error('plot '+f.dataset.plot+' drew nothing')}});
document.documentElement.setAttribute('data-plots-drawn',ok+'/'+figs.length);})();
"#;
