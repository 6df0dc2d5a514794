// Draws each metric chart of the page with the vendored uPlot, from the JSON the server embedded.
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof uPlot === "undefined") { return; }
  var charts = JSON.parse(source.textContent);
  var palette = ["#1f6feb", "#d9480f", "#2b8a3e", "#9c36b5", "#c92a2a", "#0b7285", "#e67700", "#5c940d", "#364fc7", "#a61e4d"];
  function width(figure) { return Math.max(280, Math.min(figure.clientWidth || 560, 720)); }
  charts.forEach(function (chart, index) {
    var figure = document.querySelector('[data-chart="' + index + '"]');
    if (!figure) { return; }
    var series = [{ label: "step" }];
    var data = [chart.steps];
    chart.series.forEach(function (line, position) {
      series.push({ label: line.label, stroke: palette[position % palette.length], width: 2, spanGaps: true,
                    points: { show: chart.steps.length < 40 } });
      data.push(line.values);
    });
    var holder = document.createElement("div");
    holder.className = "plot";
    holder.setAttribute("role", "img");
    holder.setAttribute("aria-label", chart.key + " over steps for " + chart.series.map(function (s) { return s.label; }).join(", "));
    figure.insertBefore(holder, figure.querySelector("details"));
    var options = { width: width(figure), height: 240, series: series, scales: { x: { time: false } },
                    // Steps are whole numbers: no ticks between them.
                    axes: [{ label: "step", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 1000000] }, {}],
                    legend: { live: true } };
    var plot = new uPlot(options, data, holder);
    figure.dataset.drawn = String(chart.steps.length);
    window.addEventListener("resize", function () { plot.setSize({ width: width(figure), height: 240 }); });
  });
})();
