/* Canopy's cost charts, drawn with the vendored Chart.js from the JSON the page embeds
   (json_script). A canvas names its data (data-source) and its kind (data-chart):
   stacked-bars (cost over time by project), grouped-bars (month over month by cost center),
   burn-down (a budget's month: spend, forecast line, budget). Values show on hover. */
(function () {
  "use strict";
  var PALETTE = ["#1f7a4d", "#1f5fa8", "#a86b00", "#7b3fa0", "#b3261e", "#2a8c8c", "#5f6b7a",
                 "#c2571a", "#3d5a47", "#8a6d3b"];
  var ESTIMATED = "rgba(224, 161, 0, 0.55)";

  function money(value, currency) {
    return (value === null || value === undefined) ? "" :
      Number(value).toFixed(2) + " " + currency;
  }

  function axes(xTitle, currency, stacked) {
    return {
      x: { stacked: stacked, title: { display: true, text: xTitle },
           ticks: { autoSkip: true, maxRotation: 0, autoSkipPadding: 12 } },
      y: { stacked: stacked, beginAtZero: true, title: { display: true, text: "Cost (" + currency + ")" } }
    };
  }

  function tooltip(currency) {
    return { callbacks: { label: function (ctx) {
      return ctx.dataset.label + ": " + money(ctx.parsed.y, currency);
    } } };
  }

  function bars(canvas, data, stacked) {
    var currency = canvas.dataset.currency || "";
    return new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.datasets.map(function (set, i) {
          return { label: set.label, data: set.data,
                   backgroundColor: set.estimated ? ESTIMATED : PALETTE[i % PALETTE.length] };
        })
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { tooltip: tooltip(currency), legend: { position: "bottom" } },
        scales: axes(canvas.dataset.xTitle || "", currency, stacked)
      }
    });
  }

  function burnDown(canvas, data) {
    var currency = data.currency;
    return new window.Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          { label: "Spent (month to date)", data: data.spent, borderColor: PALETTE[0],
            backgroundColor: PALETTE[0], pointRadius: 0, spanGaps: false },
          { label: "Forecast at the run rate", data: data.forecast, borderColor: "#a86b00",
            backgroundColor: "#a86b00", borderDash: [6, 4], pointRadius: 0 },
          { label: "Budget", data: data.labels.map(function () { return data.budget; }),
            borderColor: "#b3261e", backgroundColor: "#b3261e", pointRadius: 0, borderWidth: 1 }
        ]
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { tooltip: tooltip(currency), legend: { position: "bottom" } },
        scales: axes("Day", currency, false)
      }
    });
  }

  function draw() {
    if (!window.Chart) { return; }
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.dataset.source);
      if (!source) { return; }
      var data = JSON.parse(source.textContent);
      var kind = canvas.dataset.chart;
      var chart = kind === "burn-down" ? burnDown(canvas, data) :
        bars(canvas, data, kind === "stacked-bars");
      canvas.dataset.drawn = String(chart.data.datasets.length);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
