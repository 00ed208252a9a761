// The insight page's charts: Chart.js (static/vendor) reads the figures the server put in
// <script type="application/json"> blocks (json_script). Every word comes from the server,
// translated; numbers are formatted by Chart.js for the page's language. Without JavaScript
// the tables under each chart say the same.
(function () {
  "use strict";

  var COLOURS = {
    issued: "#0b5394",
    redeemed: "#2e7d32",
    expired: "#b45309",
    members: "#0b5394",
    rate: "#6b21a8"
  };

  function read(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function draw(canvasId, config) {
    var canvas = document.getElementById(canvasId);
    if (!canvas || !window.Chart) {
      return null;
    }
    var chart = new window.Chart(canvas, config);
    canvas.setAttribute("data-drawn", "true");
    return chart;
  }

  function locale() {
    return document.documentElement.lang || "en";
  }

  function pointsChart(data) {
    var datasets = data.series.map(function (series) {
      return {
        type: "bar",
        label: series.label,
        data: series.data,
        backgroundColor: COLOURS[series.key],
        yAxisID: "points"
      };
    });
    datasets.push({
      type: "line",
      label: data.rate.label,
      data: data.rate.data,
      borderColor: COLOURS.rate,
      backgroundColor: COLOURS.rate,
      spanGaps: true,
      yAxisID: "rate"
    });
    return draw("points-chart", {
      data: { labels: data.labels, datasets: datasets },
      options: {
        locale: locale(),
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          points: { position: "left", beginAtZero: true,
                    title: { display: true, text: data.axes.points } },
          rate: { position: "right", beginAtZero: true, suggestedMax: 100,
                  grid: { drawOnChartArea: false },
                  title: { display: true, text: data.axes.rate } }
        }
      }
    });
  }

  function valueChart(data) {
    return draw("value-chart", {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.series.map(function (series) {
          return { label: series.label, data: series.data, backgroundColor: COLOURS[series.key] };
        })
      },
      options: {
        locale: locale(),
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: false } },
        scales: {
          x: { title: { display: true, text: data.axes.value } },
          y: { beginAtZero: true, title: { display: true, text: data.axes.members } }
        }
      }
    });
  }

  function start() {
    var points = read("points-data");
    if (points) {
      pointsChart(points);
    }
    var value = read("value-data");
    if (value) {
      valueChart(value);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
